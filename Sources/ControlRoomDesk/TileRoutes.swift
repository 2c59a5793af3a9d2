import ControlRoomKit
import Foundation
import Hummingbird
import NIOCore
import NIOPosix

extension Desk {
    /// `GET /tiles/{z}/{x}/{y}.{format}`: the local tileset's tiles (`--tiles FILE`), to operators only, like the
    /// rest of the desk. 400 for an address that is not one or lies outside its zoom level, 404 for a tile the file
    /// does not hold (or another format), 406 for a gzipped vector tile to a client that does not take gzip.
    func installTiles(on routes: DeskRouteGroups) {
        routes.operators.get("/tiles/:z/:x/:file") { [self] request, context -> Response in
            guard let tiles = configuration.tiles else {
                throw HTTPError(.notFound, message: "no local tileset: controlroom serve --tiles FILE serves one")
            }
            let z = try context.parameters.require("z")
            let x = try context.parameters.require("x")
            let file = try context.parameters.require("file")
            let parsed: (address: TileAddress, ext: String)
            do throws(TileRequestError) { parsed = try TileAddress.parse(z: z, x: x, file: file) } catch {
                throw HTTPError(.badRequest, message: error.description)
            }
            let (address, ext) = parsed
            guard ext == tiles.format.rawValue else {
                throw HTTPError(.notFound, message: "the tileset's tiles are .\(tiles.format.rawValue)")
            }
            let data = try await NIOThreadPool.singleton.runIfActive { try tiles.tile(address) }
            guard let data else { throw HTTPError(.notFound, message: "no such tile") }
            var headers: HTTPFields = [
                .contentType: tiles.format.contentType,
                // Behind the login: a browser keeps it a day, no shared cache keeps it at all.
                .cacheControl: "private, max-age=86400",
            ]
            if TileEncoding.isGzip(data) {
                guard TileEncoding.acceptsGzip(request.headers[.acceptEncoding]) else {
                    throw HTTPError(.notAcceptable, message: "this tile is stored gzipped: send Accept-Encoding: gzip")
                }
                headers[.contentEncoding] = "gzip"
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}

/// How a stored tile travels: vector tiles are usually stored gzipped in MBTiles and go out as they are, with
/// `Content-Encoding: gzip`.
enum TileEncoding {
    static func isGzip(_ data: [UInt8]) -> Bool { data.count >= 2 && data[0] == 0x1f && data[1] == 0x8b }

    /// Whether an `Accept-Encoding` value takes gzip (not refused with `q=0`).
    static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        for item in header.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let coding = parts.first, coding == "gzip" || coding == "*" else { continue }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let refused = quality <= 0
            if !refused { return true }
        }
        return false
    }
}
