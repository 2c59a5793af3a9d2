import PanicConfig
import Testing

@Suite("Input scripts speak the scenario's vocabulary")
struct InputScriptTests {
    func parse(_ text: String) throws(InputScript.Problem) -> InputScript.Line? {
        try InputScript.parse(text[...], line: 7)
    }

    @Test("each script verb becomes the same BoxAction a scenario step or a key makes")
    func verbs() throws {
        #expect(try parse("press help") == .act(.press(input: "help", hold: nil)))
        #expect(try parse("release help  # let go") == .act(.release(input: "help")))
        #expect(
            try parse("bounce help 9 15") == .act(.bounce(input: "help", edges: 9, span: .milliseconds(15), hold: nil)))
        #expect(try parse("cut driver-emergency") == .act(.cutWire(input: "driver-emergency")))
        #expect(try parse("restore driver-emergency") == .act(.restore(input: "driver-emergency")))
        #expect(try parse("enclosure open") == .act(.enclosure(open: true)))
        #expect(try parse("main_power off") == .act(.mainPower(on: false)))
        #expect(try parse("ignition on") == .act(.ignition(on: true)))
        #expect(try parse("wait 2m30s") == .wait(.seconds(150)))
        #expect(try parse("   # only a comment") == nil)
    }

    @Test("bad lines name the line number and what is wrong")
    func problems() {
        #expect(
            throws: InputScript.Problem(
                "script line 7: unknown command mend (press, release, bounce, cut, restore, enclosure, main_power, ignition, wait)"
            )
        ) {
            try parse("mend driver-emergency")
        }
        #expect(throws: InputScript.Problem("script line 7: enclosure open|closed, not 'ajar'")) {
            try parse("enclosure ajar")
        }
        #expect(throws: InputScript.Problem("script line 7: press needs more arguments")) { try parse("press") }
        #expect(throws: InputScript.Problem("script line 7: soon is not a duration (300ms, 12s, 2m)")) {
            try parse("wait soon")
        }
    }
}
