import PanicCore
import Testing

@Suite("Outside text in log lines")
struct LogTextTests {
    @Test("line ends, escapes, quotes and backslashes are escaped inside the quotes; long text is cut")
    func escaping() {
        #expect(LogText.quoted("$LGN123*") == #""$LGN123*""#)
        let forged = "$ERR\r\n2026-12-07 critical panicd: box opened\u{1B}[2K\" x=\\"
        let quoted = LogText.quoted(forged)
        #expect(quoted == #""$ERR\u{d}\u{a}2026-12-07 critical panicd: box opened\u{1b}[2K\" x=\\""#)
        #expect(!quoted.unicodeScalars.contains { $0.value < 0x20 || $0.value >= 0x7F })
        #expect(LogText.quoted("é\u{202E}") == #""\u{e9}\u{202e}""#)
        #expect(LogText.quoted(String(repeating: "a", count: 50), limit: 10) == #""aaaaaaaaaa"…(40 more)"#)
    }

    @Test("a modem's answer with an escape sequence fails the dialogue with the answer quoted")
    func modemAnswer() {
        var dialogue = SMSDialogue(number: "+91981", text: "x")
        _ = dialogue.start()
        let action = dialogue.received("+CME ERROR: 10\u{1B}[1A\u{1B}[2Kpanicd: SMS sent")
        guard case .failed(let reason) = action else {
            Issue.record("expected a failure, got \(action)")
            return
        }
        #expect(reason == #"AT: the modem answered "+CME ERROR: 10\u{1b}[1A\u{1b}[2Kpanicd: SMS sent""#)
    }
}
