import Hummingbird

/// Runs `router` as a Hummingbird application on an ephemeral loopback port for as long as `body` runs, giving it
/// the base URL (`http://127.0.0.1:PORT`). The test servers of this target (the hostile backend, the local TSA,
/// the escalation webhook receiver) all run through it.
func withLoopbackApp<T: Sendable>(
    _ router: Router<BasicRequestContext>, _ body: (String) async throws -> T
) async throws -> T {
    let (ports, portSink) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) }, logger: StoreKind.quiet)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        do {
            let result = try await body("http://127.0.0.1:\(port)")
            group.cancelAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}
