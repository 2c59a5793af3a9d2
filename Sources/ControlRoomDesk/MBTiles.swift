import ControlRoomKit
import Foundation
import PanicSQLite
import Synchronization

/// Why a tileset file cannot be served (`controlroom serve --tiles FILE` refuses to start with this text).
public struct MBTilesError: Error, CustomStringConvertible, Equatable {
    public var description: String

    public init(description: String) { self.description = description }
}

/// A map tileset in one MBTiles file (SQLite: `tiles(zoom_level, tile_column, tile_row, tile_data)` and
/// `metadata(name, value)`, rows counted from the south as TMS does), opened read-only, for the desk's map when the
/// control room has no internet (`controlroom serve --tiles FILE`, served at `/tiles/{z}/{x}/{y}.{format}`).
public final class MBTiles: Sendable {
    /// The tiles' format, from the file's `format` metadata.
    public enum Format: String, Sendable, CaseIterable {
        case png, jpg, webp, pbf

        /// The answer's `Content-Type`.
        public var contentType: String {
            switch self {
            case .png: "image/png"
            case .jpg: "image/jpeg"
            case .webp: "image/webp"
            case .pbf: "application/vnd.mapbox-vector-tile"
            }
        }
    }

    public let path: String
    public let format: Format
    /// The zoom levels the file holds (Leaflet asks for nothing outside them).
    public let minZoom: Int
    public let maxZoom: Int
    /// The `attribution` metadata (e.g. "© OpenStreetMap contributors"), or nil.
    public let attribution: String?
    /// The `bounds` metadata: west, south, east, north in degrees, or nil.
    public let bounds: [Double]?
    private let connection: Mutex<SQLiteConnection>

    /// The highest zoom level a request may name at all (OpenStreetMap's tiles stop at 19; 24 leaves room).
    public static let zoomLimit = 24

    /// Opens `path` read-only and reads its metadata; throws with what is wrong (missing, not SQLite, not MBTiles,
    /// no or an unknown format).
    public init(path: String) throws(MBTilesError) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MBTilesError(description: "--tiles \(path): no such file")
        }
        let connection: SQLiteConnection
        var metadata: [String: String] = [:]
        var zooms: (Int64, Int64)?
        do {
            connection = try SQLiteConnection(path: path, create: false, readOnly: true)
            let tables = try connection.integer(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('tiles', 'metadata')")
            guard tables == 2 else {
                throw MBTilesError(
                    description: "--tiles \(path): not an MBTiles file (it needs a tiles and a metadata table)")
            }
            let rows = try connection.prepare("SELECT name, value FROM metadata")
            while try rows.step() { metadata[rows.text(0)] = rows.text(1) }
            let range = try connection.prepare("SELECT min(zoom_level), max(zoom_level) FROM tiles")
            if try range.step(), !range.isNull(0) { zooms = (range.integer(0), range.integer(1)) }
        } catch let error as MBTilesError {
            throw error
        } catch {
            throw MBTilesError(description: "--tiles \(path): cannot read it as an MBTiles (SQLite) file: \(error)")
        }
        guard let name = metadata["format"] else {
            throw MBTilesError(
                description: "--tiles \(path): its metadata has no format (png, jpg, webp or pbf)")
        }
        guard let format = Format(rawValue: name == "jpeg" ? "jpg" : name) else {
            throw MBTilesError(
                description: "--tiles \(path): format '\(name.prefix(20))' is not one of png, jpg, webp, pbf")
        }
        guard let zooms else { throw MBTilesError(description: "--tiles \(path): it holds no tiles") }
        self.format = format
        minZoom = max(0, metadata["minzoom"].flatMap { Int($0) } ?? Int(zooms.0))
        maxZoom = min(Self.zoomLimit, metadata["maxzoom"].flatMap { Int($0) } ?? Int(zooms.1))
        attribution = metadata["attribution"].flatMap { $0.isEmpty ? nil : $0 }
        let edges = (metadata["bounds"] ?? "").split(separator: ",").compactMap {
            Double($0.trimmingCharacters(in: .whitespaces))
        }
        bounds = edges.count == 4 ? edges : nil
        self.connection = Mutex(connection)
    }

    /// The tile at `z`/`x`/`y` as the map asks for it (rows from the north), or nil when the file does not hold
    /// it. The file counts rows from the south (TMS): row `2^z - 1 - y`.
    public func tile(_ address: TileAddress) throws -> [UInt8]? {
        try connection.withLock { connection throws(SQLiteError) -> [UInt8]? in
            let query = try connection.statement(
                "SELECT tile_data FROM tiles WHERE zoom_level = ?1 AND tile_column = ?2 AND tile_row = ?3")
            try query.bind([.integer(Int64(address.z)), .integer(Int64(address.x)), .integer(Int64(address.tmsRow))])
            defer { query.reset() }
            return try query.step() ? query.blob(0) : nil
        }
    }

    /// The URL template the desk's map uses for this file.
    public var urlTemplate: String { "/tiles/{z}/{x}/{y}.\(format.rawValue)" }
}

/// One tile as the map asks for it: zoom, column, row from the north (the XYZ scheme Leaflet uses).
public struct TileAddress: Sendable, Hashable {
    public var z: Int
    public var x: Int
    public var y: Int

    public init(z: Int, x: Int, y: Int) {
        self.z = z
        self.x = x
        self.y = y
    }

    /// The row as MBTiles stores it (from the south).
    public var tmsRow: Int { (1 << z) - 1 - y }

    /// Reads `/tiles/{z}/{x}/{y}.{ext}`'s parts. Throws (a 400) when a number is not one or out of range: z
    /// beyond `MBTiles.zoomLimit`, x or y beyond the 2^z tiles of that zoom level. `ext` is returned for the
    /// caller to compare with the file's format.
    public static func parse(z: String, x: String, file: String) throws(TileRequestError) -> (TileAddress, String) {
        guard let dot = file.firstIndex(of: ".") else { throw .malformed("\(z)/\(x)/\(file.prefix(40))") }
        let y = file[..<dot]
        let ext = String(file[file.index(after: dot)...])
        func number(_ text: Substring) throws(TileRequestError) -> Int {
            guard (1...8).contains(text.count), text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber),
                let value = Int(text)
            else { throw .malformed("\(z.prefix(10))/\(x.prefix(10))/\(file.prefix(20))") }
            return value
        }
        let zoom = try number(Substring(z))
        let column = try number(Substring(x))
        let row = try number(y)
        guard zoom <= MBTiles.zoomLimit else { throw .outOfRange("zoom \(zoom) is above \(MBTiles.zoomLimit)") }
        let size = 1 << zoom
        guard column < size, row < size else {
            throw .outOfRange("tile \(column)/\(row) is outside zoom \(zoom)'s \(size)×\(size) tiles")
        }
        return (TileAddress(z: zoom, x: column, y: row), ext)
    }
}

/// Why a tile request was refused (400).
public enum TileRequestError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case outOfRange(String)

    public var description: String {
        switch self {
        case .malformed(let path): "not a tile address z/x/y.ext: \(path)"
        case .outOfRange(let why): "tile out of range: \(why)"
        }
    }
}
