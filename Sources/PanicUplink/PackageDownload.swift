import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PanicCore
import PanicSigning

/// Fetches an update's package from the control room that signed the document (docs/updates.md): `GET` of the
/// document's path on the backend's URL, with the box's `DownloadProof`; the body is taken only up to the signed
/// size (a longer answer is refused unread past it) and written to a temporary file renamed into place. The size and
/// SHA-256 are checked by the caller (`UpdateGate.checkPackage`).
public enum PackageDownload {
    public static func fetch(
        _ document: UpdateDocument, from baseURL: String, trust: TrustRoots, proof: String?, to path: String,
        timeout: Duration = .seconds(600)
    ) async throws {
        let url = (baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL) + document.path
        let client = HTTPClient.uplink(
            trust: trust, connectTimeout: .seconds(10), eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
        do {
            var request = try HTTPClient.Request(url: url, method: .GET)
            if let proof { request.headers.add(name: DownloadProof.header, value: proof) }
            let response: HTTPClient.Response
            do {
                response = try await HTTPClient.answer(
                    to: request, maxBodySize: document.size, timeout: timeout, on: client)
            } catch is ResponseAccumulator.ResponseTooBigError {
                throw UplinkTransportError(
                    description: "package from \(url) is longer than the signed \(document.size) bytes")
            }
            guard response.status == .ok else {
                throw UplinkTransportError(description: "HTTP \(response.status.code) from \(url)")
            }
            let bytes = response.body ?? ByteBuffer()
            let temporary = path + ".part"
            try Data(bytes.readableBytesView).write(to: URL(fileURLWithPath: temporary))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}
