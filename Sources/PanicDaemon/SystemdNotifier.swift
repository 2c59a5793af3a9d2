import Foundation
import Logging
import PanicCore

#if canImport(Glibc)
    import Glibc
#endif

/// Speaks systemd's notify protocol (sd_notify(3)) over the datagram socket in `NOTIFY_SOCKET`: readiness,
/// status lines, stopping, and watchdog keep-alives. With no `NOTIFY_SOCKET` (not started by systemd) every
/// call does nothing.
public struct SystemdNotifier: Sendable {
    /// A failed socket call, naming the call and the errno read right after it.
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var errno: Int32
        public var socketPath: String
        public var description: String { "\(call) on notify socket \(socketPath): \(String(cString: strerror(errno)))" }
    }

    /// The socket path; a leading `@` names a Linux abstract socket.
    public let socketPath: String?

    /// How often systemd expects a keep-alive (`WATCHDOG_USEC`), when the unit has `WatchdogSec=`.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap(Int64.init).flatMap {
            $0 > 0 && pidMatches ? .microseconds($0) : nil
        }
    }

    public init(socketPath: String?, watchdogInterval: Duration? = nil) {
        self.socketPath = socketPath
        self.watchdogInterval = watchdogInterval
    }

    /// Sends `READY=1` with a status line.
    public func ready(status: String) throws { try send("READY=1\nSTATUS=\(status)") }
    /// Sends a status line shown by `systemctl status`.
    public func status(_ status: String) throws { try send("STATUS=\(status)") }
    /// Sends `STOPPING=1`.
    public func stopping() throws { try send("STOPPING=1") }
    /// Sends a watchdog keep-alive.
    public func watchdog() throws { try send("WATCHDOG=1") }

    /// Sends one datagram of `KEY=value` lines.
    public func send(_ message: String) throws {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", errno: errno, socketPath: socketPath) }
        defer { close(fd) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw Failure(call: "sockaddr_un (path too long)", errno: ENAMETOOLONG, socketPath: socketPath)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        // Abstract names are length-delimited, filesystem paths are NUL-terminated.
        let length = MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 0 : 1)
        let sent = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, socklen_t(length))
                }
            }
        }
        guard sent >= 0 else { throw Failure(call: "sendto", errno: errno, socketPath: socketPath) }
    }
}
