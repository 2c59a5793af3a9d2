import PanicCore
import Testing

@Suite("SMS AT dialogue and text")
struct SMSDialogueTests {
    func text(_ action: SMSDialogue.Action) -> String? {
        if case .write(let bytes) = action { String(decoding: bytes, as: UTF8.self) } else { nil }
    }

    @Test("the dialogue in order; echoes and unsolicited lines are ignored")
    func happyPath() {
        var dialogue = SMSDialogue(number: "+919812345678", text: "help\u{1A}")
        #expect(text(dialogue.start()) == "AT\r")
        #expect(dialogue.received("AT") == .wait)
        #expect(text(dialogue.received("OK")) == "AT+CMGF=1\r")
        #expect(dialogue.received("RING") == .wait)
        #expect(text(dialogue.received("OK")) == "AT+CMGS=\"+919812345678\"\r")
        #expect(!dialogue.textHandedOver)
        #expect(text(dialogue.received(">")) == "help?\u{1A}")
        #expect(dialogue.textHandedOver)
        #expect(dialogue.received("+CMGS: 42") == .wait)
        #expect(dialogue.received("OK") == .sent(reference: 42))
    }

    @Test("ERROR and +CMS ERROR fail the step; +CMS ERROR to the text is a refusal, a timeout after it is unknown")
    func failures() {
        var dialogue = SMSDialogue(number: "+91981", text: "x")
        _ = dialogue.start()
        #expect(dialogue.received("ERROR") == .failed("AT: the modem answered \"ERROR\""))
        var late = SMSDialogue(number: "+91981", text: "x")
        _ = late.start()
        _ = late.received("OK")
        _ = late.received("OK")
        _ = late.received(">")
        #expect(late.received("+CMS ERROR: 500") == .failed("sending the text: the modem answered \"+CMS ERROR: 500\""))
        // The network refused the text: known not sent, so it may be sent again.
        #expect(!late.textHandedOver)
        var unanswered = SMSDialogue(number: "+91981", text: "x")
        _ = unanswered.start()
        _ = unanswered.received("OK")
        _ = unanswered.received("OK")
        _ = unanswered.received(">")
        #expect(unanswered.timedOut() == .failed("sending the text: no answer from the modem"))
        #expect(unanswered.textHandedOver)
        var silent = SMSDialogue(number: "+91981", text: "x")
        _ = silent.start()
        #expect(silent.timedOut() == .failed("AT: no answer from the modem"))
        #expect(!silent.textHandedOver)
    }

    @Test("numbers are an optional + and 3 to 15 digits")
    func numbers() {
        #expect(SMSDialogue.isValidNumber("+919812345678"))
        #expect(SMSDialogue.isValidNumber("112"))
        #expect(!SMSDialogue.isValidNumber("+91 98123"))
        #expect(!SMSDialogue.isValidNumber("\"+1\""))
    }

    @Test("the text names the kind, the place, a map link, the time and the fix age, within 160 characters")
    func composed() {
        let record = Record(
            device: "d", sequence: 5, previousHash: nil,
            draft: RecordDraft(
                id: "a", time: RecordTime(epochMilliseconds: 1_764_000_000_000), timeSource: .gnss,
                fix: RecordFix(latitude: 26.912434, longitude: 75.787271, ageMilliseconds: 4200),
                body: .emergency(input: "panic-1")))
        let text = SMSText.compose(for: record, place: "RJ14PB1234")
        #expect(
            text
                == "PANIC EMERGENCY RJ14PB1234 https://maps.google.com/?q=26.91243,75.78727 fix 4s old at 2025-11-24 16:00Z"
        )
        #expect(text.count <= 160)
    }

    @Test("the §3.1.5 fields carry the serving cell the modem reported (hex, as in AIS-140 frames); x without one")
    func fieldsCarryTheCell() {
        func record(_ telemetry: Telemetry?) -> Record {
            Record(
                device: "d", sequence: 6, previousHash: nil,
                draft: RecordDraft(
                    id: "b", time: RecordTime(epochMilliseconds: 1_764_000_000_000), timeSource: .gnss,
                    fix: RecordFix(latitude: 26.912434, longitude: 75.787271, speed: 36.4, ageMilliseconds: 4200),
                    body: .emergency(input: "panic-1"), telemetry: telemetry))
        }
        let radio = Telemetry.Radio(signal: 17, mcc: 404, mnc: 45, serving: .init(lac: 0x1A2B, cellID: 0xC0FFE))
        #expect(
            SMSText.fields(for: record(Telemetry(radio: radio)), imei: "490154203237518")
                == "490154203237518,26.912434,N,75.787271,E,A,36.4,C0FFE,1A2B,24112025160000,EMR")
        #expect(
            SMSText.fields(for: record(nil), imei: "490154203237518")
                == "490154203237518,26.912434,N,75.787271,E,A,36.4,x,x,24112025160000,EMR")
    }
}
