import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why the fake gpsd could not listen.
public struct FakeGPSDError: Error, CustomStringConvertible {
    public var call: String
    public var errno: CInt
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

/// gpsd's twin for tests: a one-connection server on 127.0.0.1 that speaks like gpsd (VERSION on connect,
/// reports once the client has sent its WATCH line), records what the client sent and answers with canned reports,
/// then closes the connection.
public final class FakeGPSDServer: Sendable {
    /// The loopback port it listens on.
    public let port: UInt16
    private let request = Mutex<String>("")

    /// What the client sent (its first line), once it has.
    public var received: String { request.withLock { $0 } }
    private let listener: CInt

    /// Listens on a free loopback port; the first client gets `replies` once it has sent a line.
    public init(replies: [String]) throws(FakeGPSDError) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard descriptor >= 0, bound == 0, listen(descriptor, 1) == 0 else {
            let code = errno
            if descriptor >= 0 { _ = close(descriptor) }
            throw FakeGPSDError(call: "socket/bind/listen", errno: code)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in
            let connection = accept(self.listener, nil, nil)
            guard connection >= 0 else { return }
            // Like gpsd: VERSION on connect, then reports once the WATCH command has arrived.
            send(connection, #"{"class":"VERSION","release":"3.22","proto_major":3,"proto_minor":14}"# + "\r\n")
            var buffer = [UInt8](repeating: 0, count: 256)
            var text = ""
            while !text.contains("\n") {
                let count = read(connection, &buffer, buffer.count)
                if count <= 0 { break }
                text += String(decoding: buffer[0..<count], as: UTF8.self)
            }
            request.withLock { $0 = text }
            for reply in replies { send(connection, reply) }
            _ = close(connection)
        }
        thread.start()
    }

    private func send(_ connection: CInt, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }

    deinit { _ = close(listener) }
}
