import Foundation
import PanicCore
import PanicDaemon
import PanicHardware
import PanicLinux
import PanicSim
import PanicStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A simulated GSM modem on a real pseudo-terminal for `panicd sim`: the box's `GSMModem` opens the slave side as it
/// would a USB modem's AT port; what it writes is read from the master side and answered by `SimulatedModem`. Its
/// network is separate from the box's data link, so a scenario can have data down and SMS up.
final class SimulatedModemPort: Sendable {
    let pty: PseudoTerminal
    private let modem = Mutex(SimulatedModem())
    private let onMessage: @Sendable (SimulatedModem.Message) -> Void

    init(onMessage: @escaping @Sendable (SimulatedModem.Message) -> Void) throws {
        pty = try PseudoTerminal()
        self.onMessage = onMessage
    }

    /// The slave side's path (the box's modem port).
    var path: String { pty.slavePath }
    /// The messages the modem accepted, in order.
    var sent: [SimulatedModem.Message] { modem.withLock { $0.sent } }

    /// Answers until cancelled.
    func run() async throws {
        let descriptor = dup(pty.master)
        let chunks = SerialReader.chunks(from: descriptor, clock: SystemMonotonicClock()) { _ = close(descriptor) }
        for try await chunk in chunks {
            let (answer, fresh) = modem.withLock { modem -> ([UInt8], [SimulatedModem.Message]) in
                let before = modem.sent.count
                let answer = modem.receive(chunk.bytes)
                return (answer, Array(modem.sent.dropFirst(before)))
            }
            for message in fresh { onMessage(message) }
            if !answer.isEmpty { try pty.write(answer) }
        }
    }

    /// Whether every alert went once to each number: no message twice, and as many messages as the outbox says
    /// were sent.
    func check(outbox: Outbox, numbers: [String]) throws -> (text: String, held: Bool) {
        let sent = self.sent
        let recorded = try outbox.smsMessages().filter { $0.state == .sent }
        let pairs = sent.map { "\($0.number) \($0.text)" }
        let unique = Set(pairs).count == pairs.count
        let alerts = Set(recorded.map(\.alert)).count
        let text =
            "sms: \(sent.count) messages, \(alerts) alert(s) to \(numbers.count) number(s), each once"
        let held = unique && sent.count == recorded.count && sent.count == alerts * numbers.count && !sent.isEmpty
        return (held ? text : text + " (recorded \(recorded.count), duplicates: \(!unique))", held)
    }
}
