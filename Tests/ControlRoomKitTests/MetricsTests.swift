import AsyncHTTPClient
import ControlRoomDesk
import ControlRoomKit
import Foundation
import Hummingbird
import NIOCore
import PanicCore
import PanicSigning
import Prometheus
import Testing

@Suite("GET /metrics: Prometheus figures, loopback or a supervisor", .timeLimit(.minutes(2)))
struct MetricsTests {
    @Test(
        "records by status and reason, batch latency, open alerts and devices seen are exposed",
        arguments: StoreKind.all)
    func exposition(_ store: StoreKind) async throws {
        try await Fixture.with(store) { base in
            let registry = PrometheusCollectorRegistry()
            let metrics = ControlRoomMetrics(factory: PrometheusMetricsFactory(registry: registry))
            let room = ControlRoom(store: base.room.store, key: base.roomKey, logger: StoreKind.quiet, metrics: metrics)
            let records = try base.chain(2, alertAt: [2])
            _ = try await room.receive(
                base.signed(RecordBatch(device: base.deviceID, envelopes: records.map(\.envelope) + ["junk"])))
            let (ports, sink) = AsyncStream<Int>.makeStream()
            let app = try ControlRoomServer.application(
                desk: Desk(room: room), host: "127.0.0.1", port: 0,
                metrics: MetricsEndpoint(metrics: metrics, emit: { registry.emitToBuffer() }), logger: StoreKind.quiet,
                onRunning: { sink.yield($0) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await app.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                let response = try await HTTPClient.shared.execute(
                    HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
                #expect(response.status == .ok)
                let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                #expect(text.contains(#"controlroom_records_total{status="accepted"} 2"#), "\(text)")
                #expect(text.contains(#"controlroom_records_total{status="rejected",reason="malformed"} 1"#))
                #expect(text.contains("controlroom_open_alerts 1"))
                #expect(text.contains("controlroom_devices_seen_5m 1"))
                #expect(text.contains("controlroom_batch_seconds_count 1"))
                group.cancelAll()
            }
        }
    }

    @Test("only loopback clients read it without a supervisor's token")
    func loopbackOnly() throws {
        #expect(MetricsEndpoint.isLoopback(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        #expect(MetricsEndpoint.isLoopback(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(!MetricsEndpoint.isLoopback(try SocketAddress(ipAddress: "10.1.2.3", port: 1)))
        #expect(!MetricsEndpoint.isLoopback(try SocketAddress(ipAddress: "fe80::1", port: 1)))
        #expect(!MetricsEndpoint.isLoopback(nil))
    }
}
