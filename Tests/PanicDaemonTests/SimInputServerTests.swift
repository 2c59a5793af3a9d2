import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicDaemon
import PanicSim
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `requests` to the Unix socket at `path`, one line each, and returns the answer lines; blocking socket
/// calls on a thread of their own, not on the concurrency pool.
func converse(_ path: String, _ requests: [String]) async throws -> [String] {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard connected == 0 else {
                continuation.resume(throwing: CancellationError())
                return
            }
            var answers: [String] = []
            var pending = ""
            for request in requests {
                let bytes = Array((request + "\n").utf8)
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
                var buffer = [UInt8](repeating: 0, count: 512)
                while !pending.contains("\n") {
                    let count = read(fd, &buffer, buffer.count)
                    guard count > 0 else { break }
                    pending += String(decoding: buffer.prefix(count), as: UTF8.self)
                }
                if let end = pending.firstIndex(of: "\n") {
                    answers.append(String(pending[..<end]))
                    pending = String(pending[pending.index(after: end)...])
                }
            }
            continuation.resume(returning: answers)
        }
    }
}

@Suite("The simulated board's input socket (panicd run)", .timeLimit(.minutes(1)))
struct SimInputServerTests {
    static let sim = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    @Test("lines on the socket press, hold, cut and restore the virtual buttons; bad lines get an error")
    func pressesButtons() async throws {
        let board = try BoardFile.loadValid(path: Self.sim)
        let lines = SimulatedInputLines(specs: board.inputs, clock: SystemMonotonicClock())
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sim-\(getpid()).sock").path
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let server = SimInputServer(path: path, lines: lines, logger: logger)
        let driver = try lines.index(of: "driver-emergency")
        let rest = try lines.contactsClosed()[driver]
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            var answers: [String] = []
            for _ in 0..<100 where answers.isEmpty {
                // The socket appears once the server has bound it.
                answers = (try? await converse(path, ["press driver-emergency"])) ?? []
                if answers.isEmpty { await Task.yield() }
            }
            #expect(answers == ["ok"])
            #expect(try lines.contactsClosed()[driver] != rest)
            let more = try await converse(
                path,
                [
                    "release driver-emergency", "press driver-emergency 50ms", "cut seat-row-emergency",
                    "restore seat-row-emergency", "press nothing-here", "wait 2s", "fly away",
                ])
            #expect(more.prefix(4) == ["ok", "ok", "ok", "ok"])
            #expect(more[4].hasPrefix("error: no input line named nothing-here"), "\(more[4])")
            #expect(more[5] == "error: wait is for scripts, not this socket")
            #expect(more[6].hasPrefix("error: script line 7: unknown command fly"), "\(more[6])")
            #expect(try lines.contactsClosed()[driver] == rest)
            group.cancelAll()
        }
    }
}
