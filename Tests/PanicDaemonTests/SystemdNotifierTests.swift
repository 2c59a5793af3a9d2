import Foundation
import PanicDaemon
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))")
            .path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
    }

    /// Receives one datagram (blocking; the sender has already sent it).
    func receive() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite("systemd notify protocol")
struct SystemdNotifierTests {
    @Test("READY, STATUS, WATCHDOG and STOPPING arrive as datagrams on NOTIFY_SOCKET")
    func messagesArrive() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "3000000"])
        #expect(notifier.watchdogInterval == .seconds(3))
        try notifier.ready(status: "outbox open, 0 pending")
        #expect(socket.receive() == "READY=1\nSTATUS=outbox open, 0 pending")
        try notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        try notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and nothing fails")
    func noSocket() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(notifier.socketPath == nil)
        #expect(notifier.watchdogInterval == nil)
        try notifier.ready(status: "x")
    }

    @Test("a watchdog meant for another process is ignored")
    func watchdogForOtherPID() {
        let notifier = SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"])
        #expect(notifier.watchdogInterval == nil)
    }

    @Test("a missing socket gives an error naming the call and the path")
    func missingSocket() {
        let notifier = SystemdNotifier(socketPath: "/nonexistent/notify")
        #expect {
            try notifier.ready(status: "x")
        } throws: { error in
            "\(error)".contains("sendto on notify socket /nonexistent/notify")
        }
    }
}
