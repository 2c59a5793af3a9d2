import AsyncHTTPClient
import ControlRoomKit
import Crypto
import Foundation
import NIOCore

/// Where escalation webhooks go, and the shared secret that signs them.
public struct WebhookConfiguration: Sendable {
    public var url: String
    public var secret: [UInt8]
    public var timeout: Duration

    /// Throws `DeskError.badRequest` for a URL that is not http(s) or a secret under 16 bytes.
    public init(url: String, secret: [UInt8], timeout: Duration = .seconds(10)) throws(DeskError) {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
            parsed.host?.isEmpty == false
        else { throw .badRequest("webhook URL must be http(s)://HOST/…, got '\(url)'") }
        guard secret.count >= 16 else {
            throw .badRequest("the webhook secret must be at least 16 bytes (got \(secret.count))")
        }
        self.url = url
        self.secret = secret
        self.timeout = timeout
    }
}

/// Posts a JSON body signed with HMAC-SHA256 over the exact body bytes, hex, in
/// `X-PanicBridge-Signature: sha256=<hex>` (the receiver recomputes it with the shared secret and compares in
/// constant time; the body's `sentAtMs` lets it refuse a replay). A 2xx answer is delivered; anything else fails.
struct WebhookSender {
    static let signatureHeader = "X-PanicBridge-Signature"
    let configuration: WebhookConfiguration

    init(_ configuration: WebhookConfiguration) { self.configuration = configuration }

    static func signature(_ body: Data, secret: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: secret))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    func send(_ body: Data) async throws {
        var request = HTTPClientRequest(url: configuration.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: Self.signatureHeader, value: Self.signature(body, secret: configuration.secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        let seconds = configuration.timeout.components.seconds
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(max(1, seconds)))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw NotificationError(description: "HTTP \(response.status.code)")
        }
    }
}
