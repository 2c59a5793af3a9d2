import Foundation
import PanicCore
import SystemPackage
import Testing

@testable import PanicLinux

/// A directory laid out like `/sys/class/leds/NAME` (real files: what the writer leaves is read back).
private struct FakeLEDs {
    let root: String

    init(name: String, triggers: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("leds-\(UUID().uuidString)").path
        let directory = root + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = [
            "max_brightness": "255\n", "brightness": "0\n", "trigger": triggers + "\n", "pattern": "", "repeat": "",
            "delay_on": "", "delay_off": "",
        ]
        for (file, text) in files {
            try text.write(toFile: directory + "/" + file, atomically: false, encoding: .utf8)
        }
    }

    func read(_ name: String, _ file: String) throws -> String {
        try String(contentsOfFile: root + "/" + name + "/" + file, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite("Kernel LED-class LEDs through sysfs", .timeLimit(.minutes(1)))
struct LEDClassTests {
    let heartbeat = IndicatorPatterns.entry(for: .armed).led

    @Test("with the pattern trigger, any periodic pattern is written once as held levels and repeats for ever")
    func patternTrigger() throws {
        let leds = try FakeLEDs(name: "panic-status", triggers: "[none] timer pattern heartbeat")
        defer { leds.remove() }
        let led = try LEDClassLED(name: "panic-status", root: leds.root)
        #expect(led.maxBrightness == 255)
        #expect(led.triggers == ["none", "timer", "pattern", "heartbeat"])
        #expect(led.canPlay(heartbeat))
        #expect(led.canPlay(IndicatorPatterns.entry(for: .fault).led))
        #expect(!led.canPlay(IndicatorPatterns.entry(for: .sent).led), "steady: a level, not a pattern")
        try led.play(heartbeat)
        #expect(try leds.read("panic-status", "trigger") == "pattern\n")
        #expect(try leds.read("panic-status", "pattern") == "255 100 255 0 0 2900 0 0\n")
        #expect(try leds.read("panic-status", "repeat") == "-1\n")
        // Fault: three flashes, the last off step and the pause merged into one held level.
        try led.play(IndicatorPatterns.entry(for: .fault).led)
        #expect(
            try leds.read("panic-status", "pattern")
                == "255 100 255 0 0 100 0 0 255 100 255 0 0 100 0 0 255 100 255 0 0 1600 0 0\n")
        try led.set(on: true)
        #expect(try leds.read("panic-status", "trigger") == "none\n")
        #expect(try leds.read("panic-status", "brightness") == "255\n")
    }

    @Test("with only the timer trigger, one on and one off step is delay_on/delay_off; more steps are not offered")
    func timerTrigger() throws {
        let leds = try FakeLEDs(name: "act", triggers: "none [timer] mmc0")
        defer { leds.remove() }
        let led = try LEDClassLED(name: "act", root: leds.root)
        #expect(led.canPlay(heartbeat))
        #expect(!led.canPlay(IndicatorPatterns.entry(for: .fault).led))
        try led.play(heartbeat)
        #expect(try leds.read("act", "trigger") == "timer\n")
        #expect(try leds.read("act", "delay_on") == "100\n")
        #expect(try leds.read("act", "delay_off") == "2900\n")
    }

    @Test("a board's outputs: an LED output starts off, takes the pattern, and is off again after close")
    func outputs() throws {
        let leds = try FakeLEDs(name: "panic-status", triggers: "[none] timer")
        defer { leds.remove() }
        try "255\n".write(toFile: leds.root + "/panic-status/brightness", atomically: false, encoding: .utf8)
        let outputs = try LinuxOutputLines(
            specs: [OutputLineSpec(name: "status-led", role: .statusLED, led: "panic-status")], ledRoot: leds.root)
        #expect(try leds.read("panic-status", "brightness") == "0\n")
        #expect(outputs.canPlay(heartbeat, on: 0))
        try outputs.play(heartbeat, on: 0)
        #expect(try leds.read("panic-status", "trigger") == "timer\n")
        outputs.close()
        #expect(try leds.read("panic-status", "trigger") == "none\n")
        #expect(try leds.read("panic-status", "brightness") == "0\n")
    }

    @Test("a missing LED names the file and says how to find the LEDs there are")
    func missing() throws {
        let leds = try FakeLEDs(name: "panic-status", triggers: "[none]")
        defer { leds.remove() }
        #expect(
            throws: LEDClassError(call: "open", path: leds.root + "/nope/max_brightness", errno: .noSuchFileOrDirectory)
        ) {
            try LEDClassLED(name: "nope", root: leds.root)
        }
        let error = LEDClassError(
            call: "open", path: "/sys/class/leds/nope/max_brightness", errno: .noSuchFileOrDirectory)
        #expect(error.description.contains("ls /sys/class/leds"))
    }
}
