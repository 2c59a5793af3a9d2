import Foundation
import PanicConfig

#if canImport(Glibc)
    import Glibc
#endif

/// The other end of `StatusServer`, for `panicd status` and the live watches: connects to the socket, writes the
/// request line and hands back each JSON line decoded. A command-line tool, so its reads block on the socket.
public struct StatusClient: Sendable {
    /// A failed socket call, naming the call, the socket and the errno read right after it.
    public struct Failure: Error, CustomStringConvertible {
        public var call: String
        public var path: String
        public var errno: Int32
        public var description: String {
            let reason = String(cString: strerror(errno))
            let hint =
                errno == ENOENT || errno == ECONNREFUSED
                ? " (is panicd running? `systemctl status panicd`)"
                : errno == EACCES ? " (run as root or as a member of group panicd)" : ""
            return "\(call) \(path): \(reason)\(hint)"
        }
    }

    public let path: String

    public init(path: String) { self.path = path }

    /// Sends `request` and calls `body` with each message until the daemon closes the connection or `body`
    /// returns false; with a `deadline`, each read waits on the socket only until then (then `ETIMEDOUT`).
    public func read(
        _ request: StatusRequest, deadline: ContinuousClock.Instant? = nil, _ body: (StatusMessage) throws -> Bool
    ) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(call: "socket", path: path, errno: errno) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(call: "connect", path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw Failure(call: "connect", path: path, errno: errno) }
        let line = Array("\(request.rawValue)\n".utf8)
        guard send(fd, line, line.count, Int32(MSG_NOSIGNAL)) == line.count else {
            throw Failure(call: "send", path: path, errno: errno)
        }
        let decoder = JSONDecoder()
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else { throw Failure(call: "wait for", path: path, errno: ETIMEDOUT) }
                let (seconds, attoseconds) = left.components
                var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(max(1, attoseconds / 1_000_000_000_000)))
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count < 0, deadline != nil, errno == EAGAIN || errno == EWOULDBLOCK {
                throw Failure(call: "wait for", path: path, errno: ETIMEDOUT)
            }
            guard count >= 0 else { throw Failure(call: "recv", path: path, errno: errno) }
            if count == 0 { return }
            pending += chunk[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let data = Data(pending[..<newline])
                pending.removeSubrange(...newline)
                let message = try decoder.decode(StatusMessage.self, from: data)
                if try !body(message) { return }
            }
        }
    }

    /// One status.
    public func status() throws -> BoxStatus {
        var result: BoxStatus?
        try read(.status) { message in
            if case .status(let status) = message { result = status }
            return result == nil
        }
        guard let result else { throw Failure(call: "read status from", path: path, errno: ENODATA) }
        return result
    }

    /// The socket a configuration names: its `status_socket`, or the default when the file cannot be read.
    public static func socketPath(config: String) -> String {
        DaemonConfig.load(path: config).config?.statusSocket ?? DaemonConfig.defaultStatusSocket
    }
}
