import Logging
import Testing

@testable import PanicDaemon

@Suite("watchdog gate, journald lines and the status summary")
struct MonitorTests {
    typealias Look = WatchdogGate.Observation

    static func look(
        outbox: Bool = true, busy: Bool = false, uplinkBusy: Bool = false, events: Int = 0,
        silence: Duration = .zero
    ) -> Look {
        Look(outboxResponds: outbox, boxBusy: busy, uplinkBusy: uplinkBusy, events: events, uplinkSilence: silence)
    }

    @Test("an idle box that answers is fed")
    func idleIsFed() {
        var gate = WatchdogGate(uplinkLimit: .seconds(30))
        for _ in 0..<5 { #expect(gate.observe(Self.look()) == .feed) }
    }

    @Test("an outbox that does not answer withholds the keep-alive at once")
    func outboxStuck() {
        var gate = WatchdogGate(uplinkLimit: .seconds(30))
        #expect(gate.observe(Self.look(outbox: false)) == .withhold(reason: "the outbox does not answer"))
    }

    @Test("work in hand with no event coming out, two looks in a row, withholds; progress feeds again")
    func loopStalls() {
        var gate = WatchdogGate(uplinkLimit: .seconds(30))
        #expect(gate.observe(Self.look(busy: true, events: 4)) == .feed)
        #expect(gate.observe(Self.look(busy: true, events: 4)) == .feed)
        guard case .withhold = gate.observe(Self.look(busy: true, events: 4)) else {
            Issue.record("a stuck loop was fed")
            return
        }
        #expect(gate.observe(Self.look(busy: true, events: 5)) == .feed)
        #expect(gate.observe(Self.look(busy: false, events: 5)) == .feed)
    }

    @Test("a request in flight longer than the limit withholds; within it, the box is fed")
    func uplinkStalls() {
        var gate = WatchdogGate(uplinkLimit: .seconds(30))
        #expect(gate.observe(Self.look(busy: true, uplinkBusy: true, silence: .seconds(20))) == .feed)
        #expect(
            gate.observe(Self.look(busy: true, uplinkBusy: true, silence: .seconds(31)))
                == .withhold(reason: "a request has been in flight for 31 s"))
    }

    @Test("journald lines carry the syslog priority, the part, the message and sorted metadata, no timestamp")
    func journalFormat() {
        let line = JournalLogHandler.format(
            level: .warning, message: "backend erss unreachable: connect timeout",
            metadata: ["part": "uplink", "b": "2", "a": "1"])
        #expect(line == "<4>[uplink] backend erss unreachable: connect timeout a=1 b=2")
        #expect(JournalLogHandler.priority(.error) == 3)
        #expect(JournalLogHandler.priority(.notice) == 5)
        #expect(JournalLogHandler.priority(.debug) == 7)
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: [:]))
        #expect(!JournalLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
    }

    @Test("the systemd status line: state, fix, queue and the last delivery")
    func summary() {
        var status = BoxStatus(
            version: "0.9.0", device: "d", board: "sim", state: "armed", emergencyOpen: false, alerts: [],
            indicator: "armed",
            inputs: [],
            fix: .init(current: true, ageSeconds: 1.4, mode: "3d", satellites: 9, hdop: 0.9, chunksDecoded: 10),
            backends: [
                .init(
                    name: "erss", queued: 0, inFlight: 0, reachability: .reachable, lastDeliveryAgeSeconds: 12.7,
                    lastError: nil)
            ],
            queued: 0, oldestUndeliveredAgeSeconds: nil, faults: [], lastError: nil, uptimeSeconds: 100)
        #expect(status.summary == "armed · fix 1 s · 0 queued · last sent 12 s ago")
        status.fix.current = false
        status.backends[0].reachability = .unreachable
        status.queued = 42
        #expect(status.summary == "armed · no fix (last 1 s ago) · 42 queued · last sent 12 s ago · unreachable: erss")
    }

    @Test("uplink failure reasons become one short line")
    func cleanReason() {
        #expect(StatusBoard.cleanReason("HTTP 503\n  Service\tUnavailable ") == "HTTP 503 Service Unavailable")
        #expect(StatusBoard.cleanReason(String(repeating: "x", count: 300)).count == 158)
    }
}
