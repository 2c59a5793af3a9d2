import Glibc
import PanicCore
import PanicHardware
import PanicLinux
import PanicSim
import Synchronization
import Testing

@Suite("GSM modem inbox over a real pseudo-terminal: AT+CMGL reads, AT+CMGD deletes", .timeLimit(.minutes(2)))
struct GSMModemInboxTests {
    @Test("an injected SMS is listed with its sender and text, then deleted from the modem")
    func reads() async throws {
        let port = try ModemOnPTY()
        port.modem.withLock {
            _ = $0.deliver("4711,SET UR:30", from: "+919800000001")
            _ = $0.deliver("GET VN", from: "+919800000002")
        }
        let messages = try await port.with { path in
            try await GSMModem(path: path, timeout: .seconds(60)).readMessages()
        }
        #expect(
            messages == [
                .init(index: 1, sender: "+919800000001", text: "4711,SET UR:30"),
                .init(index: 2, sender: "+919800000002", text: "GET VN"),
            ])
        #expect(port.modem.withLock { $0.inbox.isEmpty })
        #expect(
            port.modem.withLock { $0.commands } == ["AT+CMGF=1", "AT+CMGL=\"REC UNREAD\"", "AT+CMGD=1", "AT+CMGD=2"])
    }

    @Test("an empty inbox reads as no message")
    func empty() async throws {
        let port = try ModemOnPTY()
        let messages = try await port.with { path in
            try await GSMModem(path: path, timeout: .seconds(60)).readMessages()
        }
        #expect(messages.isEmpty)
    }
}

@Suite("AT+CMGL answers read as pure code: messages, and garbage named", .timeLimit(.minutes(1)))
struct ModemInboxAnswerTests {
    @Test("headers and texts up to OK")
    func listing() throws {
        let lines = [
            "+CMGL: 3,\"REC UNREAD\",\"+919800000001\",,\"26/12/07,09:00:00+22\"", "SET PIP:10.1.2.3", "",
            "+CMGL: 4,\"REC UNREAD\",\"VLTOTR\",,\"26/12/07,09:00:01+22\"", "GET VN", "OK",
        ]
        #expect(
            try ModemAnswers.messages(lines) == [
                .init(index: 3, sender: "+919800000001", text: "SET PIP:10.1.2.3"),
                .init(index: 4, sender: "VLTOTR", text: "GET VN"),
            ])
    }

    @Test(
        "a hostile modem's garbage fails with the problem named",
        arguments: [
            (["ERROR"], "the modem answered \"ERROR\""),
            (["garbage", "OK"], "unexpected line"),
            (["+CMGL: x,\"REC UNREAD\",\"+91\"", "t", "OK"], "unreadable header"),
            (["+CMGL: 1,\"REC UNREAD\",\"+919800000001\""], "message 1 has no text"),
            (
                ["+CMGL: 1,\"REC UNREAD\",\"+919800000001\"", String(repeating: "A", count: 200), "OK"],
                "longer than 160"
            ),
            ([], "ended without OK"),
        ])
    func garbage(lines: [String], problem: String) {
        #expect {
            try ModemAnswers.messages(lines)
        } throws: { error in
            "\(error)".contains(problem)
        }
    }

    @Test("more than 30 messages in one listing is refused")
    func flood() {
        let lines =
            (0...ModemAnswers.maximumListed).flatMap { ["+CMGL: \($0),\"REC UNREAD\",\"+919800000001\"", "x"] } + ["OK"]
        #expect(throws: ModemAnswers.Failure.self) { try ModemAnswers.messages(lines) }
    }
}
