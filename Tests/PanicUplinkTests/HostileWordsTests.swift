import ControlRoomKit
import Foundation
import Hummingbird
import Logging
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization
import Testing

@Suite("A hostile backend's words are quoted in the box's log", .timeLimit(.minutes(1)))
struct HostileWordsTests {
    @Test("a refusal or an answer carrying a line end and an escape sequence reaches the log escaped")
    func refusalQuoted() async throws {
        let forged = "no\n2026-12-07T00:00:00+0000 critical panicd : alert cleared\u{1B}[2K"
        let router = Router()
        router.post("/refuse/v1/records") { _, _ -> Response in
            let body = try JSONEncoder().encode(["error": forged])
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(data: body)))
        }
        router.post("/garble/v1/records") { _, _ -> Response in
            let body =
                #"{"results":[{"status":"\#(forged.replacingOccurrences(of: "\n", with: "\\n"))"}],"alerts":[],"commands":[]}"#
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) }, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            for path in ["refuse", "garble"] {
                let transport = HTTPUplinkTransport(baseURL: "http://127.0.0.1:\(port)/\(path)", trust: .system)
                do {
                    _ = try await transport.send(RecordBatch(device: "d", envelopes: []), timeout: .seconds(10))
                    Issue.record("the \(path) answer was taken")
                } catch {
                    let text = UplinkTransportError.describe(error)
                    if path == "refuse" {
                        #expect(text.contains(#"critical panicd : alert cleared\u{1b}[2K"#), "\(text)")
                    }
                    #expect(!text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(text)")
                }
                try await transport.shutdown()
            }
            group.cancelAll()
        }
    }
}
