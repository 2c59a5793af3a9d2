import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A local Unix stream socket the daemon serves (the status socket, the sim board's input socket): made with mode
/// 0660 whatever the umask (root and group `panicd`), each connection served on its own child task until graceful
/// shutdown, the file removed at the end. A socket that cannot be made is logged (`purpose` says what it was
/// for) and `serve` returns false: the box keeps guarding without it.
enum LocalSocket {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func serve(
        path: String, purpose: String, network: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger, onListening: () -> Void = {},
        _ handle: @escaping @Sendable (Connection) async -> Void
    ) async throws -> Bool {
        let server: NIOAsyncChannel<Connection, Never>
        do {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                withIntermediateDirectories: true)
            server = try await ServerBootstrap(group: network)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            logger.error("cannot serve \(purpose)", metadata: ["path": "\(path)", "error": "\(error)"])
            return false
        }
        chmod(path, 0o660)
        onListening()
        defer { unlink(path) }
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await handle(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown: the listening socket is closed; clients see the end of their stream.
        }
        return true
    }
}
