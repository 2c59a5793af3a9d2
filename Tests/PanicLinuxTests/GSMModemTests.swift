import Glibc
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Synchronization
import Testing

/// A simulated modem answering on a real pseudo-terminal: what the box writes to the slave is read from the master,
/// fed to `SimulatedModem`, and its answer written back.
final class ModemOnPTY: Sendable {
    let pty: PseudoTerminal
    let modem: Mutex<SimulatedModem>

    init(fault: SimulatedModem.Fault? = nil) throws {
        pty = try PseudoTerminal()
        modem = Mutex(SimulatedModem(fault: fault))
    }

    var sent: [SimulatedModem.Message] { modem.withLock { $0.sent } }

    /// Answers until cancelled.
    func run() async throws {
        let descriptor = dup(pty.master)
        let chunks = SerialReader.chunks(from: descriptor, clock: SystemMonotonicClock()) { _ = close(descriptor) }
        for try await chunk in chunks {
            let answer = modem.withLock { $0.receive(chunk.bytes) }
            if !answer.isEmpty { try pty.write(answer) }
        }
    }

    func with<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run() }
            let result = try await body(pty.slavePath)
            group.cancelAll()
            return result
        }
    }
}

@Suite("GSM modem over a real pseudo-terminal", .timeLimit(.minutes(2)))
struct GSMModemTests {
    @Test("AT, AT+CMGF=1, AT+CMGS, the text and Ctrl-Z: +CMGS gives the reference")
    func sends() async throws {
        let port = try ModemOnPTY()
        try await port.with { path in
            // Generous: a loaded build machine is slow, and an answer ends the wait anyway.
            let modem = GSMModem(path: path, timeout: .seconds(60))
            let first = try await modem.send("PANIC EMERGENCY RJ14PB1234", to: "+919812345678")
            let second = try await modem.send("second", to: "+919812345679")
            #expect(first == 1 && second == 2)
        }
        #expect(port.sent.map(\.number) == ["+919812345678", "+919812345679"])
        #expect(port.sent.first?.text == "PANIC EMERGENCY RJ14PB1234")
    }

    @Test(
        "modem errors and silence fail with the step named, and say whether the text was handed over",
        arguments: [
            (SimulatedModem.Fault.errorOnTextMode, "AT+CMGF=1: the modem answered \"ERROR\"", false),
            // The network's refusal of the text: known not sent (SMSFallback sends it again).
            (.cmsError(330), "sending the text: the modem answered \"+CMS ERROR: 330\"", false),
            (.silent, "no answer within", false),
            (.silentAfterText, "no answer within", true),
        ])
    func failures(fault: SimulatedModem.Fault, reason: String, handedOver: Bool) async throws {
        let port = try ModemOnPTY(fault: fault)
        try await port.with { path in
            // Silence is waited out; an answer ends the wait at once.
            let silent = fault == .silent || fault == .silentAfterText
            let modem = GSMModem(path: path, timeout: silent ? .seconds(15) : .seconds(60))
            do {
                _ = try await modem.send("text", to: "+919812345678")
                Issue.record("sent despite \(fault)")
            } catch let error as SMSModemError {
                #expect(error.reason.contains(reason), "\(error.reason)")
                #expect(error.textHandedOver == handedOver)
            }
        }
        #expect(port.sent.isEmpty)
    }

    @Test("a text whose deadline passes while another holds the port ends at its deadline, not handed over")
    func deadlineBehindAHeldPort() async throws {
        // The holder never lets go while the text waits (a health reading stuck on its port): the text must not
        // wait for it past its own deadline.
        let lock = ModemPortLock()
        let modem = GSMModem(path: "/nonexistent/ttyUSB9", timeout: .milliseconds(300), lock: lock)
        let (ends, end) = AsyncStream.makeStream(of: Result<Int, SMSModemError>.self)
        try await lock.withPort {
            Task {
                do throws(SMSModemError) {
                    end.yield(.success(try await modem.send("text", to: "+919812345678")))
                } catch {
                    end.yield(.failure(error))
                }
            }
            let outcome = await first(of: ends, within: .seconds(20))
            #expect(lock.isHeld)
            guard case .failure(let error) = outcome else {
                Issue.record(outcome == nil ? "the text still waits for the port past its deadline" : "sent")
                return
            }
            #expect(error.reason.contains("no answer within"), "\(error.reason)")
            #expect(!error.textHandedOver)
        }
        #expect(!lock.isHeld)
    }

    @Test("a port that does not exist fails before anything is handed over")
    func missingPort() async throws {
        let modem = GSMModem(path: "/nonexistent/ttyUSB9", timeout: .seconds(2))
        do {
            _ = try await modem.send("text", to: "+919812345678")
            Issue.record("sent to nowhere")
        } catch {
            #expect(error.reason.contains("open"), "\(error.reason)")
            #expect(!error.textHandedOver)
        }
    }
}
