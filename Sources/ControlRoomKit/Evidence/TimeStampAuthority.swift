import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore

/// Why a time-stamping authority's answer was not a granted RFC 3161 timestamp.
public struct TimeStampError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An RFC 3161 time-stamping authority reached over HTTP (RFC 3161 section 3.4: POST a DER `TimeStampReq` as
/// `application/timestamp-query`, get a DER `TimeStampResp` as `application/timestamp-reply`).
public struct TimeStampAuthority: Sendable {
    public var url: String
    public var timeout: Duration

    public init(url: String, timeout: Duration = .seconds(20)) {
        self.url = url
        self.timeout = timeout
    }

    /// The DER `TimeStampReq` for SHA-256 of `data`: version 1, the message imprint, a 64-bit nonce, certReq true
    /// (the token carries the TSA's certificate).
    public static func request(for data: Data, nonce: UInt64) -> Data {
        let sha256 = Data([0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00])
        let digest = Data([0x04, 0x20]) + Data(SHA256.hash(data: data))
        let imprint = Data([0x30, UInt8(sha256.count + digest.count)]) + sha256 + digest
        // A positive INTEGER of 8 bytes: the top bit cleared, the first byte not zero.
        var nonceBytes = withUnsafeBytes(of: nonce.bigEndian) { Data($0) }
        nonceBytes[0] = (nonceBytes[0] & 0x7F) | 0x01
        let body = Data([0x02, 0x01, 0x01]) + imprint + Data([0x02, 0x08]) + nonceBytes + Data([0x01, 0x01, 0xFF])
        return Data([0x30, UInt8(body.count)]) + body
    }

    /// The `PKIStatus` of a DER `TimeStampResp` (0 granted, 1 granted with modifications), or nil when the bytes
    /// are not one.
    public static func status(_ response: Data) -> Int? {
        let bytes = [UInt8](response)
        // SEQUENCE { SEQUENCE { INTEGER status ... } ... }
        func header(at index: Int) -> (tag: UInt8, content: Int)? {
            guard index + 1 < bytes.count else { return nil }
            let first = bytes[index + 1]
            guard first & 0x80 != 0 else { return (bytes[index], index + 2) }
            let count = Int(first & 0x7F)
            guard count > 0, count <= 4, index + 1 + count < bytes.count else { return nil }
            return (bytes[index], index + 2 + count)
        }
        guard let outer = header(at: 0), outer.tag == 0x30, let info = header(at: outer.content), info.tag == 0x30,
            let status = header(at: info.content), status.tag == 0x02, status.content < bytes.count
        else { return nil }
        return Int(bytes[status.content])
    }

    /// Timestamps `data`: the DER `TimeStampResp` the authority granted; throws when it refused or answered
    /// something else.
    public func timestamp(_ data: Data) async throws -> Data {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/timestamp-query")
        request.body = .bytes(ByteBuffer(bytes: Self.request(for: data, nonce: UInt64.random(in: 1...UInt64.max))))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeout.components.seconds))
        let body = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        guard response.status == .ok else {
            throw TimeStampError("the time-stamping authority \(url) answered HTTP \(response.status.code)")
        }
        guard let status = Self.status(body) else {
            throw TimeStampError("the time-stamping authority \(url) answered something that is not a TimeStampResp")
        }
        guard status == 0 || status == 1 else {
            throw TimeStampError("the time-stamping authority \(url) refused the request (PKIStatus \(status))")
        }
        return body
    }
}
