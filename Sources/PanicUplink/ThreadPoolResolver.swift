import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Name resolution for a backend's connections without libdispatch. NIO's default resolver
/// (`GetaddrinfoResolver`) runs `getaddrinfo` on a dispatch queue; the first dispatch worker a process starts also
/// starts libdispatch's worker-pool monitor, a 1 s timer that wakes the daemon for the rest of its life
/// (docs/daemon.md → *No libdispatch*). This one runs `getaddrinfo` once per connection on NIO's blocking pool and
/// hands both families to the happy-eyeballs connector, as NIO's does.
final class ThreadPoolResolver: Resolver, Sendable {
    private let loop: any EventLoop
    private let pool: NIOThreadPool
    private let v4: EventLoopPromise<[SocketAddress]>
    private let v6: EventLoopPromise<[SocketAddress]>

    init(loop: any EventLoop, pool: NIOThreadPool = .singleton) {
        self.loop = loop
        self.pool = pool
        v4 = loop.makePromise()
        v6 = loop.makePromise()
    }

    /// Answered by the one `getaddrinfo` that `initiateAAAAQuery` starts (the connector asks for AAAA first).
    func initiateAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> { v4.futureResult }

    func initiateAAAAQuery(host: String, port: Int) -> EventLoopFuture<[SocketAddress]> {
        let resolved = pool.runIfActive(eventLoop: loop) { try Self.resolve(host: host, port: port) }
        resolved.whenComplete { [v4, v6] result in
            switch result {
            case .success(let (inet, inet6)):
                v6.succeed(inet6)
                v4.succeed(inet)
            case .failure(let error):
                v6.fail(error)
                v4.fail(error)
            }
        }
        return v6.futureResult
    }

    /// Nothing to cancel: the lookup blocks a pool thread until it ends.
    func cancelQueries() {}

    /// Every TCP address of `host`, by family (blocking).
    static func resolve(host: String, port: Int) throws -> ([SocketAddress], [SocketAddress]) {
        var hints = addrinfo()
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        guard code == 0, let first = list else {
            throw UplinkTransportError(
                description: "cannot look up \(host): \(code == 0 ? "no address" : String(cString: gai_strerror(code)))"
            )
        }
        defer { freeaddrinfo(first) }
        var inet: [SocketAddress] = []
        var inet6: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            if let address = info.pointee.ai_addr {
                switch info.pointee.ai_family {
                case AF_INET:
                    inet.append(
                        SocketAddress(UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in.self), host: host))
                case AF_INET6:
                    inet6.append(
                        SocketAddress(UnsafeRawPointer(address).loadUnaligned(as: sockaddr_in6.self), host: host))
                default: break
                }
            }
            next = info.pointee.ai_next
        }
        return (inet, inet6)
    }
}
