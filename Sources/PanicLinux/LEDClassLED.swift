import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A sysfs write or read of an LED-class LED failed: which call, on which file, and the errno it left.
public struct LEDClassError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The system call that failed (`open`, `read`, `write`).
    public var call: String
    /// The sysfs file, e.g. `/sys/class/leds/panic-status/trigger`.
    public var path: String
    public var errno: Errno

    public init(call: String, path: String, errno: Errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let hint: String =
            switch errno {
            case .noSuchFileOrDirectory:
                " (no such LED: is its gpio-leds overlay or driver loaded? `ls /sys/class/leds`)"
            case .permissionDenied, .readOnlyFileSystem:
                " (the daemon's user needs write access to the LED's brightness and trigger files)"
            default: ""
            }
        return "\(call) \(path): \(errno)\(hint)"
    }
}

/// One kernel LED-class LED (`/sys/class/leds/NAME`), driven through sysfs: a level through `brightness`, and a
/// periodic pattern handed to the kernel once through its trigger, after which it blinks with no user-space wakeup.
///
/// The `pattern` trigger (ledtrig-pattern) plays any periodic pattern: each step is written as
/// `BRIGHTNESS MS BRIGHTNESS 0` (a held level, then an instant change), repeated for ever (`repeat` -1). Without
/// it, the `timer` trigger plays a pattern that is one on and one off step (`delay_on`, `delay_off`) — the armed
/// heartbeat. The patterns themselves are `IndicatorPatterns`' (docs/inputs.md → Indicator patterns); this only
/// writes them in the kernel's form.
public final class LEDClassLED: Sendable {
    /// Where the kernel lists LED-class LEDs.
    public static let root = "/sys/class/leds"

    /// The LED's directory.
    public let directory: String
    /// `max_brightness`: the level written for "on".
    public let maxBrightness: Int
    /// The triggers the kernel offers for this LED (from `trigger`, the active one without its brackets).
    public let triggers: Set<String>
    /// Whether a trigger is playing (so a level must first switch it off).
    private let playing = Mutex(false)

    /// Opens the LED `name` under `root` (its `max_brightness` and `trigger` files must be readable).
    public init(name: String, root: String = LEDClassLED.root) throws(LEDClassError) {
        directory = root + "/" + name
        let maximum = try Self.read(directory + "/max_brightness")
        maxBrightness = Int(maximum.trimmingWhitespace) ?? 1
        let listed = try Self.read(directory + "/trigger")
        triggers = Set(
            listed.split(whereSeparator: { $0 == " " || $0 == "\n" }).map {
                String($0.filter { $0 != "[" && $0 != "]" })
            })
    }

    /// Whether the kernel can play `pattern` here by itself: any periodic pattern with the `pattern` trigger,
    /// one on and one off step with the `timer` trigger.
    public func canPlay(_ pattern: IndicatorPattern) -> Bool {
        guard pattern.isPeriodic else { return false }
        if triggers.contains("pattern") { return true }
        return triggers.contains("timer") && Self.timerDelays(pattern) != nil
    }

    /// Hands `pattern` to the kernel, starting at its first step.
    public func play(_ pattern: IndicatorPattern) throws(LEDClassError) {
        let steps = Self.merged(pattern.steps)
        if triggers.contains("pattern") {
            try write("trigger", "pattern")
            playing.withLock { $0 = true }
            let levels = steps.map { step in
                let level = step.on ? maxBrightness : 0
                return "\(level) \(step.duration.milliseconds) \(level) 0"
            }
            try write("pattern", levels.joined(separator: " "))
            try write("repeat", "-1")
        } else if let (on, off) = Self.timerDelays(pattern) {
            try write("trigger", "timer")
            playing.withLock { $0 = true }
            try write("delay_on", "\(on.milliseconds)")
            try write("delay_off", "\(off.milliseconds)")
        } else {
            // Not offered by `canPlay`: shown steady in its first step's level rather than not at all.
            try set(on: steps.first?.on ?? false)
        }
    }

    /// Sets a steady level, ending any trigger first (`trigger` ← `none`).
    public func set(on: Bool) throws(LEDClassError) {
        if playing.withLock({ $0 }) {
            try write("trigger", "none")
            playing.withLock { $0 = false }
        }
        try write("brightness", on ? "\(maxBrightness)" : "0")
    }

    /// Consecutive steps of the same level as one; zero-length steps dropped.
    static func merged(_ steps: [IndicatorStep]) -> [IndicatorStep] {
        var result: [IndicatorStep] = []
        for step in steps where step.duration > .zero {
            if let last = result.last, last.on == step.on {
                result[result.count - 1].duration += step.duration
            } else {
                result.append(step)
            }
        }
        return result
    }

    /// The timer trigger's delays for a pattern that is one on step then one off step.
    static func timerDelays(_ pattern: IndicatorPattern) -> (on: Duration, off: Duration)? {
        let steps = merged(pattern.steps)
        guard steps.count == 2, steps[0].on, !steps[1].on else { return nil }
        return (steps[0].duration, steps[1].duration)
    }

    private func write(_ file: String, _ value: String) throws(LEDClassError) {
        let path = directory + "/" + file
        let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard descriptor >= 0 else { throw LEDClassError(call: "open", path: path, errno: Errno(rawValue: errno)) }
        defer { Glibc.close(descriptor) }
        let bytes = Array((value + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw LEDClassError(call: "write", path: path, errno: Errno(rawValue: written < 0 ? errno : EIO))
        }
    }

    private static func read(_ path: String) throws(LEDClassError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LEDClassError(call: "open", path: path, errno: Errno(rawValue: errno)) }
        defer { Glibc.close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw LEDClassError(call: "read", path: path, errno: Errno(rawValue: errno)) }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}

/// A board's outputs on Linux: GPIO lines through libgpiod, and kernel LED-class LEDs (`led:` in the board file)
/// through sysfs, which play periodic patterns by themselves.
public final class LinuxOutputLines: PatternOutputs {
    public let specs: [OutputLineSpec]
    private let lines: GPIODOutputLines
    /// For each output: its index among the GPIO lines, or its LED.
    private let places: [Place]

    private enum Place {
        case line(Int)
        case led(LEDClassLED)
    }

    /// Requests the GPIO outputs (all off) and opens the LEDs (under `ledRoot`), switched off too.
    public init(specs: [OutputLineSpec], ledRoot: String = LEDClassLED.root) throws {
        self.specs = specs
        var places: [Place] = []
        var lineSpecs: [OutputLineSpec] = []
        for spec in specs {
            if let name = spec.led {
                let led = try LEDClassLED(name: name, root: ledRoot)
                try led.set(on: false)
                places.append(.led(led))
            } else {
                places.append(.line(lineSpecs.count))
                lineSpecs.append(spec)
            }
        }
        self.places = places
        lines = try GPIODOutputLines(specs: lineSpecs)
    }

    public func set(_ index: Int, on: Bool) throws {
        switch places[index] {
        case .line(let line): try lines.set(line, on: on)
        case .led(let led): try led.set(on: on)
        }
    }

    public func canPlay(_ pattern: IndicatorPattern, on index: Int) -> Bool {
        if case .led(let led) = places[index] { return led.canPlay(pattern) }
        return false
    }

    public func play(_ pattern: IndicatorPattern, on index: Int) throws {
        guard case .led(let led) = places[index] else { return }
        try led.play(pattern)
    }

    public func close() {
        for place in places { if case .led(let led) = place { try? led.set(on: false) } }
        lines.close()
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}
