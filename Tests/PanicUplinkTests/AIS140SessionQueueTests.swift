import Foundation
import PanicCore
import PanicUplink
import Testing

extension AIS140SessionTests {
    static func record(_ sequence: Int64, _ body: RecordBody) -> Record {
        Record(
            device: "pb-0123456789abcdef", sequence: sequence, previousHash: nil,
            draft: RecordDraft(
                id: "00000000-0000-4000-8000-\(String(repeating: "0", count: 11))\(sequence)",
                time: RecordTime(epochMilliseconds: 1_764_000_000_000 + sequence * 1000), timeSource: .gnss,
                fix: RecordFix(latitude: 26.912434, longitude: 75.787271, ageMilliseconds: 1000), body: body))
    }

    /// The alert lane and the backlog lane share the kept session; an alert queued behind a backlog exchange that
    /// the server never answers must not have spent its deadline waiting: it gets its own on a fresh session.
    @Test("an alert queued behind a backlog exchange that times out is delivered within its own deadline")
    func alertDeadlineStartsWhenItsExchangeDoes() async throws {
        try await withAIS140Receiver(behaviour: .mute) { receiver in
            let transport = AIS140Transport(
                url: receiver.url, options: AIS140Options(identity: Self.identity), trust: .system)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await transport.run() }
                let backlog = [OutgoingRecord(record: Self.record(1, .position), live: false)]
                async let slow = transport.deliver(backlog, timeout: .seconds(8))
                // The backlog exchange is under way: its heartbeat arrived and was read while the server was mute
                // (the behaviour is read before the arrival is announced), so it stays unanswered on an open
                // connection. The server answers whatever comes next.
                for await frame in receiver.arrivals where frame.text.hasPrefix("$,HBT,") { break }
                receiver.set(.standard)
                let alert = [OutgoingRecord(record: Self.record(2, .emergency(input: "panic-1")), live: true)]
                let report = await transport.deliver(alert, timeout: .seconds(6))
                let slowReport = await slow
                #expect(slowReport.failure != nil, "the mute server answered the backlog's heartbeat")
                #expect(report.failure == nil && report.acknowledged == 1, "\(report.failure ?? "")")
                #expect(receiver.logins == 2, "the alert went on a fresh session")
                group.cancelAll()
            }
        }
    }
}
