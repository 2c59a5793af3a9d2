import Dispatch
import Foundation
import PanicConfig
import PanicCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Single keys typed at the terminal while `panicd sim --interactive` runs, turned into simulator controls: a
/// person presses the virtual buttons, cuts wires, pulls the network, and (with `a`/`c`) plays the operator when
/// not using the control room's page. The terminal goes into non-canonical, no-echo mode while the run lasts and
/// is restored on `restore()`; when standard input is not a terminal (a pipe, in tests) the same keys are read
/// as bytes, and end of input ends the run. SIGINT and SIGTERM end it cleanly too.
public final class TerminalKeys: Sendable {
    /// The keys and what they do, for the help text.
    public static let help = """
        keys: e emergency press · h help press · b bouncy press · w cut the emergency wire · r restore it
              t enclosure open/close · m main power off/on · p power cut (back after 10 s)
              g GNSS lost/back · n network down/up · s next 3 requests fail with HTTP 500
              a accept open alerts · c clear them (or use the operator page) · q quit · ? this help
        """

    /// What a key does, given the board's inputs. Toggles remember their state.
    public struct KeyMap: Sendable {
        let emergency: String?
        let help: String?
        var networkUp = true
        var gnssUp = true
        var enclosureOpen = false
        var mainPowerOn = true

        public init(board: BoardDefinition) {
            emergency = board.inputs.first { $0.role == .emergency }?.name
            help = board.inputs.first { $0.role == .help }?.name
        }

        /// The control for `key`, nil for a key that does nothing (or whose input the board lacks); `?` is
        /// handled by the caller.
        public mutating func control(for key: UInt8) -> SimulatorControl? {
            switch Character(Unicode.Scalar(key)) {
            case "e": return emergency.map { .act(.press(input: $0, hold: .milliseconds(800))) }
            case "h": return help.map { .act(.press(input: $0, hold: .milliseconds(800))) }
            case "b":
                return emergency.map {
                    .act(.bounce(input: $0, edges: 9, span: .milliseconds(15), hold: .milliseconds(800)))
                }
            case "w": return emergency.map { .act(.cutWire(input: $0)) }
            case "r": return emergency.map { .act(.restore(input: $0)) }
            case "t":
                enclosureOpen.toggle()
                return .act(.enclosure(open: enclosureOpen))
            case "m":
                mainPowerOn.toggle()
                return .act(.mainPower(on: mainPowerOn))
            case "p": return .act(.powerCut(restoreAfter: .seconds(10)))
            case "g":
                gnssUp.toggle()
                return .act(.gnss(available: gnssUp))
            case "n":
                networkUp.toggle()
                return .act(.network(up: networkUp))
            case "s": return .act(.serverErrors(status: 500, count: 3))
            case "a": return .act(.operatorAction(.accept))
            case "c": return .act(.operatorAction(.clear))
            case "q", "\u{04}": return .quit
            default: return nil
            }
        }
    }

    /// Signals received, and their sources (kept while armed).
    private final class Signals: Sendable {
        let received = Mutex(0)
        // Written once, by `controls()` while it arms them, and never read: it only keeps them alive.
        nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []
    }
    private let signals = Signals()
    private let descriptor: CInt
    private let saved: Mutex<termios?>

    /// Puts the terminal on `descriptor` (if it is one) into single-key mode.
    public init(descriptor: CInt = STDIN_FILENO) {
        self.descriptor = descriptor
        var original = termios()
        guard isatty(descriptor) == 1, tcgetattr(descriptor, &original) == 0 else {
            saved = Mutex(nil)
            return
        }
        var raw = original
        // Keys arrive one at a time and are not echoed; ISIG stays on so Ctrl-C still means "stop".
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) {
            $0[Int(VMIN)] = 1; $0[Int(VTIME)] = 0
        }
        _ = tcsetattr(descriptor, TCSANOW, &raw)
        saved = Mutex(original)
    }

    /// Puts the terminal back as it was.
    public func restore() {
        saved.withLock { saved in
            guard var original = saved else { return }
            _ = tcsetattr(descriptor, TCSANOW, &original)
            saved = nil
        }
    }

    deinit { restore() }

    /// The controls typed, until `q`, end of input, SIGINT or SIGTERM. The reading happens on a thread of its own
    /// blocked in `read(2)` (a terminal has nothing to poll that is cheaper); it ends with the process.
    public func controls(
        board: BoardDefinition, say: @escaping @Sendable (String) -> Void
    ) -> AsyncStream<
        SimulatorControl
    > {
        let (stream, sink) = AsyncStream<SimulatorControl>.makeStream()
        let descriptor = descriptor
        let thread = Thread {
            var map = KeyMap(board: board)
            var byte: UInt8 = 0
            while true {
                let count = read(descriptor, &byte, 1)
                if count < 0, errno == EINTR { continue }
                guard count == 1 else { break }
                if byte == UInt8(ascii: "?") {
                    say(Self.help)
                    continue
                }
                guard let control = map.control(for: byte) else { continue }
                sink.yield(control)
                if control == .quit { break }
            }
            sink.finish()
        }
        thread.name = "panicd-sim-keys"
        thread.start()
        // A signal ends the run like `q` does, so the terminal is restored and the report printed; a second one
        // (the drain taking too long for someone's patience) restores the terminal and exits at once.
        let signals = signals
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                if signals.received.withLock({
                    $0 += 1; return $0
                }) > 1 {
                    restore()
                    exit(130)
                }
                sink.yield(.quit)
            }
            source.resume()
            signals.sources.append(source)
        }
        return stream
    }
}
