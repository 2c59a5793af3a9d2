import NMEA
import PanicCore
import PanicHardware
import Synchronization
import Testing

@Suite("Recording replay", .timeLimit(.minutes(2)))
struct ReplayTests {
    let log = [
        "GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A",
        "GPGSA,A,3,07,30,19,11,15,,,,,,,,2.88,1.20,2.62",
        "GPRMC,223252.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A",
        "GPRMC,223254.50,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A",
    ]
    .map(sentence).joined()

    @Test("a recording is cut at each new receiver time, with offsets from the first, losing no byte")
    func segments() {
        let bytes = Array(("# header\n" + log).utf8)
        let segments = NMEARecording.segments(of: bytes)
        #expect(segments.map(\.offset) == [.zero, .seconds(1), .milliseconds(3500)])
        #expect(segments.flatMap(\.bytes) == bytes)
    }

    @Test("at its own pace, each segment is delivered when the injected clock reaches its offset")
    func recordedPace() async throws {
        let clock = ManualClock()
        let segments = NMEARecording.segments(of: Array(log.utf8)).map {
            GNSSReplaySource.Segment(offset: $0.offset, bytes: $0.bytes)
        }
        let source = GNSSReplaySource(segments: segments, pace: .recorded, clock: clock)
        let arrivals = Mutex<[MonotonicInstant]>([])
        let task = Task { try await source.run { chunk in arrivals.withLock { $0.append(chunk.receivedAt) } } }
        for _ in 0..<2 {
            while clock.sleeperCount == 0 { await Task.yield() }
            clock.advance(to: try #require(clock.nextDeadline))
        }
        try await task.value
        #expect(
            arrivals.withLock { $0 } == [
                .zero, MonotonicInstant(sinceOrigin: .seconds(1)), MonotonicInstant(sinceOrigin: .milliseconds(3500)),
            ])
    }

    @Test("as fast as possible, everything is delivered without the clock moving")
    func asFastAsPossible() async throws {
        let clock = ManualClock()
        let segments = NMEARecording.segments(of: Array(log.utf8)).map {
            GNSSReplaySource.Segment(offset: $0.offset, bytes: $0.bytes)
        }
        let source = GNSSReplaySource(segments: segments, pace: .asFastAsPossible, clock: clock)
        let decoded = Mutex(NMEADecoder())
        try await source.run { chunk in decoded.withLock { $0.feed(chunk.bytes, at: chunk.receivedAt) { _ in } } }
        #expect(decoded.withLock { $0.statistics.accepted } == 4)
        #expect(clock.now == .zero)
    }
}
