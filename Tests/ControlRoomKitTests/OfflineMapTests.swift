import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import PanicSQLite
import Testing

/// A small MBTiles file the tests write themselves: each tile an 8×8 PNG of one colour that says where it is
/// (red = x mod 256, green = y mod 256, blue = 10 × z), rows stored from the south as MBTiles does.
struct TestTileset {
    let path: String

    /// Writes `tiles` (XYZ addresses, rows from the north) as `format` with `metadata` besides.
    init(
        tiles: [(TileAddress, [UInt8])], format: String? = "png", metadata: [String: String] = [:]
    ) throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("tiles-\(UUID().uuidString).mbtiles")
            .path
        let connection = try SQLiteConnection(path: path)
        try connection.execute(
            """
            CREATE TABLE metadata(name TEXT, value TEXT);
            CREATE TABLE tiles(zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);
            CREATE UNIQUE INDEX tile_index ON tiles(zoom_level, tile_column, tile_row);
            """)
        var all = metadata
        if let format { all["format"] = format }
        for (name, value) in all {
            try connection.prepare("INSERT INTO metadata VALUES(?1, ?2)").bind([.text(name), .text(value)]).run()
        }
        for (address, data) in tiles {
            let hex = data.map { String(format: "%02x", $0) }.joined()
            try connection.execute(
                "INSERT INTO tiles VALUES(\(address.z), \(address.x), \(address.tmsRow), X'\(hex)')")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// The colour a tile at `address` is painted.
    static func colour(_ address: TileAddress) -> [UInt8] {
        [UInt8(address.x & 0xff), UInt8(address.y & 0xff), UInt8(min(250, address.z * 10))]
    }

    /// The XYZ tile holding `latitude, longitude` at zoom `z`.
    static func address(latitude: Double, longitude: Double, z: Int) -> TileAddress {
        let n = Double(1 << z)
        let x = Int((longitude + 180) / 360 * n)
        let radians = latitude * .pi / 180
        let y = Int((1 - log(tan(radians) + 1 / cos(radians)) / .pi) / 2 * n)
        return TileAddress(z: z, x: x, y: y)
    }

    /// An 8×8 PNG of one RGB colour (stored deflate blocks: no compressor needed).
    static func png(_ rgb: [UInt8]) -> [UInt8] {
        func be32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xffff_ffff
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
            }
            return ~crc
        }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return be32(UInt32(data.count)) + body + be32(crc32(body))
        }
        let side = 8
        var raw: [UInt8] = []
        for _ in 0..<side { raw += [0] + Array([[UInt8]](repeating: rgb, count: side).joined()) }
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in raw {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        let length = UInt16(raw.count)
        let zlib =
            [0x78, 0x01, 0x01, UInt8(length & 0xff), UInt8(length >> 8), UInt8(~length & 0xff), UInt8(~length >> 8)]
            + raw + be32(b << 16 | a)
        let header = be32(UInt32(side)) + be32(UInt32(side)) + [8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", header) + chunk("IDAT", zlib)
            + chunk("IEND", [])
    }

    /// A `size`×`size` block of tiles at zoom `z` centred on the tile of `latitude, longitude`.
    static func around(latitude: Double, longitude: Double, z: Int, size: Int = 7) -> [(TileAddress, [UInt8])] {
        let centre = address(latitude: latitude, longitude: longitude, z: z)
        var tiles: [(TileAddress, [UInt8])] = []
        for dx in -(size / 2)...(size / 2) {
            for dy in -(size / 2)...(size / 2) {
                let tile = TileAddress(z: z, x: centre.x + dx, y: centre.y + dy)
                tiles.append((tile, png(colour(tile))))
            }
        }
        return tiles
    }
}

extension DeskServer {
    /// A GET whose body is kept as bytes (a tile).
    func bytes(
        _ path: String, headers: [String: String] = [:]
    ) async throws -> (
        status: Int, headers: [String: String], body: [UInt8]
    ) {
        var request = HTTPClientRequest(url: base + path)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return (Int(response.status.code), fields, Array(body.readableBytesView))
    }
}

@Suite("Offline map: tiles from a local MBTiles file", .serialized, .timeLimit(.minutes(2)))
struct OfflineMapTests {
    @Test(
        "the MBTiles reader reads the metadata and flips rows (TMS); a missing file, a SQLite file that is no MBTiles, one without a format are refused with the reason"
    )
    func reader() throws {
        let north = TileAddress(z: 3, x: 5, y: 1)
        let set = try TestTileset(
            tiles: [(north, [1, 2, 3]), (TileAddress(z: 5, x: 0, y: 0), [4])],
            metadata: ["attribution": "© OpenStreetMap contributors", "bounds": "76.8,28.4,77.4,28.9"])
        defer { set.remove() }
        let tiles = try MBTiles(path: set.path)
        #expect(tiles.format == .png && tiles.minZoom == 3 && tiles.maxZoom == 5)
        #expect(tiles.attribution == "© OpenStreetMap contributors")
        #expect(tiles.bounds == [76.8, 28.4, 77.4, 28.9])
        #expect(try tiles.tile(north) == [1, 2, 3])
        // The same row counted from the north is another tile: not there.
        #expect(try tiles.tile(TileAddress(z: 3, x: 5, y: 8 - 1 - 1)) == nil)
        #expect(tiles.urlTemplate == "/tiles/{z}/{x}/{y}.png")

        #expect(throws: MBTilesError(description: "--tiles /nonexistent.mbtiles: no such file")) {
            try MBTiles(path: "/nonexistent.mbtiles")
        }
        let other = FileManager.default.temporaryDirectory.appendingPathComponent("other-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: other) }
        try SQLiteConnection(path: other).execute("CREATE TABLE t(x)")
        #expect(
            throws: MBTilesError(
                description: "--tiles \(other): not an MBTiles file (it needs a tiles and a metadata table)")
        ) {
            try MBTiles(path: other)
        }
        let formatless = try TestTileset(tiles: [(north, [1])], format: nil)
        defer { formatless.remove() }
        #expect(
            throws: MBTilesError(
                description: "--tiles \(formatless.path): its metadata has no format (png, jpg, webp or pbf)")
        ) {
            try MBTiles(path: formatless.path)
        }
    }

    @Test("tile addresses: numbers only, z at most 24, x and y inside the zoom level")
    func addresses() throws {
        let (address, ext) = try TileAddress.parse(z: "15", x: "23417", file: "13760.png")
        #expect(address == TileAddress(z: 15, x: 23417, y: 13760) && ext == "png")
        #expect(throws: TileRequestError.outOfRange("zoom 25 is above 24")) {
            try TileAddress.parse(z: "25", x: "0", file: "0.png")
        }
        #expect(throws: TileRequestError.outOfRange("tile 8/0 is outside zoom 3's 8×8 tiles")) {
            try TileAddress.parse(z: "3", x: "8", file: "0.png")
        }
        for (z, x, file) in [("-1", "0", "0.png"), ("3", "0x1", "0.png"), ("3", "0", "png"), ("3", "0", "+1.png")] {
            #expect(throws: TileRequestError.self) { try TileAddress.parse(z: z, x: x, file: file) }
        }
    }

    @Test(
        "over HTTP: the tileset's tiles to a logged-in operator (image/png, private cache), a missing tile 404, out of range 400, another extension 404, no login 401; the page's config names /tiles"
    )
    func http() async throws {
        let tile = TileAddress(z: 15, x: 23417, y: 13760)
        let image = TestTileset.png(TestTileset.colour(tile))
        let set = try TestTileset(tiles: [(tile, image)], metadata: ["attribution": "test tiles"])
        defer { set.remove() }
        var configuration = DeskConfiguration(heartbeat: .seconds(1))
        configuration.tiles = try MBTiles(path: set.path)
        try await DeskServer.with(configuration) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let path = "/tiles/15/23417/13760.png"
            let anonymous = try await server.bytes(path)
            #expect(anonymous.status == 401)
            #expect(anonymous.body != image)
            let session = try await server.login("asha", "correct horse asha")
            let cookie = ["Cookie": session.cookie]
            let served = try await server.bytes(path, headers: cookie)
            #expect(served.status == 200)
            #expect(served.body == image)
            #expect(served.headers["content-type"] == "image/png")
            #expect(served.headers["cache-control"] == "private, max-age=86400")
            #expect(try await server.bytes("/tiles/15/23417/13761.png", headers: cookie).status == 404)
            #expect(try await server.bytes("/tiles/15/23417/13760.pbf", headers: cookie).status == 404)
            for bad in ["/tiles/25/0/0.png", "/tiles/3/8/0.png", "/tiles/3/0/9.png", "/tiles/x/0/0.png"] {
                let answer = try await server.bytes(bad, headers: cookie)
                #expect(answer.status == 400, "\(bad): \(answer.status)")
            }
            let config = try await server.call("GET", "/v1/desk/config", headers: cookie)
            #expect(config.body.contains(#""tileURL":"/tiles/{z}/{x}/{y}.png""#), "\(config.body)")
            #expect(config.body.contains(#""tileMaxZoom":15"#), "\(config.body)")
            // The page's policy allows images from the control room only.
            let page = try await server.call("GET", "/", headers: cookie)
            #expect(page.header("Content-Security-Policy")?.contains("img-src 'self';") == true)
        }
    }

    @Test("vector tiles stored gzipped go out with Content-Encoding: gzip, and 406 to a client that does not take gzip")
    func gzippedVectorTiles() async throws {
        let gzipped: [UInt8] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        let set = try TestTileset(tiles: [(TileAddress(z: 0, x: 0, y: 0), gzipped)], format: "pbf")
        defer { set.remove() }
        var configuration = DeskConfiguration(heartbeat: .seconds(1))
        configuration.tiles = try MBTiles(path: set.path)
        try await DeskServer.with(configuration) { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let session = try await server.login("asha", "correct horse asha")
            let gzip = try await server.bytes(
                "/tiles/0/0/0.pbf", headers: ["Cookie": session.cookie, "Accept-Encoding": "gzip, deflate"])
            #expect(gzip.status == 200)
            #expect(gzip.headers["content-encoding"] == "gzip")
            #expect(gzip.headers["content-type"] == "application/vnd.mapbox-vector-tile")
            // The shared client inflates a gzip answer: the stored tile is an empty gzip member, so nothing is left.
            #expect(gzip.body.isEmpty && gzip.headers["content-length"] == "\(gzipped.count)")
            let plain = try await server.bytes(
                "/tiles/0/0/0.pbf", headers: ["Cookie": session.cookie, "Accept-Encoding": "identity"])
            #expect(plain.status == 406)
        }
    }
}
