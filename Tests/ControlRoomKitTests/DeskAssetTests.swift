import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import NIOCore
import Testing

/// The desk's pages, scripts and style sheets are files in the desk's `Assets/` folder, compiled into the binary:
/// what the control room serves is, byte for byte, what the file in the repository holds.
@Suite("Desk assets: pages, scripts and style sheets served from the files", .timeLimit(.minutes(2)))
struct DeskAssetTests {
    static let assets = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/ControlRoomDesk/Assets").standardized

    /// An answer's status, content type and raw bytes.
    struct Fetched {
        var status: Int
        var type: String?
        var bytes: [UInt8]
    }

    /// `path` as a browser gets it.
    static func fetch(_ server: DeskServer, _ path: String, cookie: String? = nil) async throws -> Fetched {
        var request = HTTPClientRequest(url: server.base + path)
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Fetched(
            status: Int(response.status.code), type: response.headers.first(name: "Content-Type"),
            bytes: Array(buffer: body))
    }

    @Test("each page and asset served equals its file in Assets/, with its content type")
    func servedBytesAreTheFiles() async throws {
        let served: [(path: String, file: String, type: String)] = [
            ("/login", "login.html", "text/html; charset=utf-8"),
            ("/", "desk.html", "text/html; charset=utf-8"),
            ("/static/desk/desk.js", "desk.js", "text/javascript; charset=utf-8"),
            ("/static/desk/desk.css", "desk.css", "text/css; charset=utf-8"),
            ("/static/desk/login.js", "login.js", "text/javascript; charset=utf-8"),
            ("/static/desk/login.css", "login.css", "text/css; charset=utf-8"),
        ]
        try await DeskServer.with { server in
            try await server.room.addUser(name: "asha", role: .operator, password: "correct horse asha", cost: 4)
            let asha = try await server.login("asha", "correct horse asha")
            for (path, file, type) in served {
                let expected = try [UInt8](Data(contentsOf: Self.assets.appendingPathComponent(file)))
                #expect(expected.count > 100, "\(file)")
                let answer = try await Self.fetch(server, path, cookie: asha.cookie)
                #expect(answer.status == 200, "\(path)")
                #expect(answer.type == type, "\(path)")
                #expect(
                    answer.bytes == expected, "\(path) is not \(file): \(answer.bytes.count) vs \(expected.count) bytes"
                )
            }
            // Only the four named files: nothing else of the folder (not the pages) under /static/desk/.
            for other in ["desk.html", "login.html", "other.js", "..%2FPackage.swift"] {
                #expect(try await Self.fetch(server, "/static/desk/" + other).status == 404, "\(other)")
            }
        }
    }
}
