import Foundation
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Testing

/// The radio monitor asks a simulated modem on a real pseudo-terminal, shares the port with the SMS dialogue
/// without ever interleaving, and a silent or garbage modem gives a clear error.
@Suite("AT radio monitor over a real pseudo-terminal", .timeLimit(.minutes(2)))
struct ATRadioMonitorTests {
    @Test("reads signal, operator, MCC/MNC, serving cell and SIM800 neighbours as the modem reports them")
    func reads() async throws {
        let port = try ModemOnPTY()
        let radio = SimulatedModem.Radio(
            signal: 21, operatorName: "BSNL MOBILE", mcc: 404, mnc: 58, lac: 0x00A1, cellID: 0x1B2C,
            neighbours: [.init(lac: 0xA2, cellID: 0x77, rxlev: 40)])
        port.modem.withLock { $0.radio = radio }
        let reading = try await port.with { path in
            try await ATRadioMonitor(path: path, timeout: .seconds(60), clock: SystemMonotonicClock(), lock: .init())
                .readRadio()
        }
        #expect(reading == radio.telemetry)
        #expect(reading.neighbours == [.init(lac: 0xA2, cellID: 0x77, signal: 21)])
        // Not registered: the signal still, no operator and no cell.
        port.modem.withLock { $0.radio.registered = false }
        let searching = try await port.with { path in
            try await ATRadioMonitor(path: path, timeout: .seconds(60), clock: SystemMonotonicClock(), lock: .init())
                .readRadio()
        }
        #expect(searching == Telemetry.Radio(signal: 21))
    }

    @Test("a text and a health reading at once never interleave on the port: each conversation is whole")
    func sharesThePortWithSMS() async throws {
        let port = try ModemOnPTY()
        let lock = ModemPortLock()
        try await port.with { path in
            let modem = GSMModem(path: path, timeout: .seconds(60), lock: lock)
            let monitor = ATRadioMonitor(path: path, timeout: .seconds(60), clock: SystemMonotonicClock(), lock: lock)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for round in 0..<3 {
                    group.addTask { _ = try await modem.send("PANIC EMERGENCY \(round)", to: "+919812345678") }
                    group.addTask {
                        let signal = try await monitor.readRadio().signal
                        #expect(signal == 17)
                    }
                }
                try await group.waitForAll()
            }
        }
        #expect(port.sent.count == 3)
        // Split the modem's command log into conversations: each SMS is AT, AT+CMGF=1, AT+CMGS; each reading the
        // nine radio commands in order. Interleaving would break one of them.
        var commands = port.modem.withLock { $0.commands }[...]
        let sms = ["AT", "AT+CMGF=1", "AT+CMGS=\"+919812345678\""]
        let readingCommands = RadioReading.Step.allCases.map(\.command)
        var texts = 0
        var readings = 0
        while let first = commands.first {
            if first == "AT" {
                #expect(Array(commands.prefix(3)) == sms)
                commands = commands.dropFirst(3)
                texts += 1
            } else {
                #expect(Array(commands.prefix(readingCommands.count)) == readingCommands)
                commands = commands.dropFirst(readingCommands.count)
                readings += 1
            }
        }
        #expect(texts == 3 && readings == 3)
        #expect(!lock.isHeld)
    }

    @Test("a reading or a text returns only once its port is closed: no reader of it is left to take the next answer")
    func closesThePortBeforeReturning() async throws {
        let port = try ModemOnPTY()
        let lock = ModemPortLock()
        try await port.with { path in
            let monitor = ATRadioMonitor(path: path, timeout: .seconds(60), clock: SystemMonotonicClock(), lock: lock)
            let modem = GSMModem(path: path, timeout: .seconds(60), lock: lock)
            let before = Self.openDescriptors(to: path)
            // Back to back, as an alert's reading follows the scheduled one: a reader left over from one (its thread
            // still between two reads) took the next one's answer, and that reading waited for it forever.
            for round in 0..<20 {
                _ = try await monitor.readRadio()
                #expect(Self.openDescriptors(to: path) == before, "reading \(round) left its port open")
                if round.isMultiple(of: 5) {
                    _ = try await modem.send("PANIC EMERGENCY \(round)", to: "+919812345678")
                    #expect(Self.openDescriptors(to: path) == before, "text \(round) left its port open")
                }
            }
        }
    }

    /// This process's descriptors open on `path`.
    static func openDescriptors(to path: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return entries.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path
        }
        .count
    }

    @Test("a silent modem: the reading ends at its deadline with a clear error, and frees the port")
    func silent() async throws {
        let port = try ModemOnPTY(fault: .silent)
        let lock = ModemPortLock()
        await #expect {
            try await port.with { path in
                try await ATRadioMonitor(
                    path: path, timeout: .milliseconds(300), clock: SystemMonotonicClock(), lock: lock
                ).readRadio()
            }
        } throws: { error in
            "\(error)".contains("no answer within")
        }
        #expect(!lock.isHeld)
    }

    @Test("a silent modem on a virtual clock that waits for the reading: the reading still ends at its deadline")
    func silentOnAStillClock() async throws {
        // The simulator's clock moves only when no reading is under way: a deadline on it would never come.
        let port = try ModemOnPTY(fault: .silent)
        let lock = ModemPortLock()
        let (ends, end) = AsyncStream.makeStream(of: Result<Telemetry.Radio, TelemetryReadError>.self)
        try await port.with { path in
            let monitor = ATRadioMonitor(path: path, timeout: .milliseconds(300), clock: ManualClock(), lock: lock)
            let reading = Task {
                do throws(TelemetryReadError) {
                    end.yield(.success(try await monitor.readRadio()))
                } catch {
                    end.yield(.failure(error))
                }
            }
            let outcome = await first(of: ends, within: .seconds(20))
            reading.cancel()
            guard case .failure(let error) = outcome else {
                Issue.record(outcome == nil ? "the reading still waits past its deadline" : "a silent modem read")
                return
            }
            #expect("\(error)".contains("no answer within"), "\(error)")
        }
        #expect(!lock.isHeld)
    }

    @Test("a modem that answers ERROR to everything gives an error naming the commands, no values")
    func refusing() async throws {
        let port = try ModemOnPTY(fault: .errorOnEverything)
        await #expect {
            try await port.with { path in
                try await ATRadioMonitor(
                    path: path, timeout: .seconds(60), clock: SystemMonotonicClock(), lock: .init()
                )
                .readRadio()
            }
        } throws: { error in
            "\(error)".contains("AT+CSQ: the modem answered \"ERROR\"")
        }
    }

    @Test("a port that cannot be opened is an error naming the device")
    func missingPort() async throws {
        let monitor = ATRadioMonitor(
            path: "/nonexistent/panic-modem", timeout: .seconds(5), clock: SystemMonotonicClock(), lock: .init())
        await #expect {
            try await monitor.readRadio()
        } throws: { error in
            "\(error)".contains("/nonexistent/panic-modem")
        }
    }
}
