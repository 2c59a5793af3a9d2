import PanicCore
import Synchronization
import SystemPackage
import Testing

@testable import PanicLinux

#if canImport(Glibc)
    import Glibc
#endif

private func input(_ closed: Level, _ bias: Bias, chip: String = "pinctrl-bcm2711") -> InputLineSpec {
    InputLineSpec(
        name: "help", role: .help, chip: chip, line: .name("GPIO17"), contact: .normallyOpen, closedLevel: closed,
        bias: bias)
}

/// Whether this machine has GPIO character devices at all.
let hasGPIOChip = ((try? GPIODChipInfo.all()) ?? []).isEmpty == false

/// The libgpiod calls the two APIs name in their errors, for the API this process loaded.
private var openByLabelCall: String {
    (try? GPIODLibrary.loaded().api) == .v2 ? "gpiod_chip_info_get_label" : "gpiod_chip_open_by_label"
}
private var findAnywhereCall: String {
    (try? GPIODLibrary.loaded().api) == .v2 ? "gpiod_chip_get_line_offset_from_name" : "gpiod_line_find"
}

@Suite("libgpiod backend without hardware", .timeLimit(.minutes(2)))
struct GPIODRequestTests {
    @Test("line settings: both edges, active-low when the contact reads low while closed, and the board's bias")
    func settings() {
        #expect(
            GPIODRequest.settings(for: input(.low, .pullUp))
                == GPIODLineSettings(output: false, activeLow: true, bias: .pullUp, bothEdges: true))
        #expect(
            GPIODRequest.settings(for: input(.high, .pullDown))
                == GPIODLineSettings(output: false, activeLow: false, bias: .pullDown, bothEdges: true))
        let led = OutputLineSpec(name: "led", role: .statusLED, chip: "c", line: .offset(3), activeLevel: .low)
        #expect(
            GPIODRequest.settings(for: led)
                == GPIODLineSettings(output: true, activeLow: true, bias: .asIs, bothEdges: false))
    }

    @Test("request flags: active-low when the contact reads low while closed, and the board's bias")
    func flags() {
        // The values are libgpiod 1.6's GPIOD_LINE_REQUEST_FLAG_* bits: ACTIVE_LOW 4, BIAS_DISABLE 8,
        // BIAS_PULL_DOWN 16, BIAS_PULL_UP 32.
        #expect(GPIODRequest.flags(for: input(.low, .pullUp)) == 4 | 32)
        #expect(GPIODRequest.flags(for: input(.high, .pullDown)) == 16)
        #expect(GPIODRequest.flags(for: input(.high, .disabled)) == 8)
        #expect(GPIODRequest.flags(for: input(.low, .asIs)) == 4)
        let led = OutputLineSpec(name: "led", role: .statusLED, chip: "c", line: .offset(3), activeLevel: .low)
        #expect(GPIODRequest.flags(for: led) == 4)
    }

    @Test("a busy line says which line on which chip is held by another consumer, and which call failed")
    func busy() {
        let error = GPIODError(
            call: "gpiod_line_request_both_edges_events_flags", errno: .resourceBusy, line: "GPIO17",
            chip: "pinctrl-bcm2711")
        #expect(error.description.hasPrefix("line GPIO17 on chip pinctrl-bcm2711 is held by another consumer"))
        #expect(error.description.contains("[gpiod_line_request_both_edges_events_flags: "))
    }

    @Test("a refused bias request points at the kernel version; permissions point at the gpio group")
    func hints() {
        let bias = GPIODError(
            call: "gpiod_line_request_both_edges_events_flags", errno: .invalidArgument, line: "P8_7",
            chip: "gpio-64-95", askedForBias: true)
        #expect(bias.description.contains("Linux 5.5"))
        let denied = GPIODError(call: "gpiod_chip_open_by_label", errno: .permissionDenied, chip: "pinctrl-rp1")
        #expect(denied.description.contains("gpio group"))
    }

    @Test("opening a chip label that does not exist fails in libgpiod itself, naming the label")
    func missingChip() {
        #expect {
            _ = try GPIODInputLines(specs: [input(.low, .pullUp, chip: "no-such-chip-label")])
        } throws: { error in
            guard let error = error as? GPIODError else { return false }
            return error.call == openByLabelCall && error.chip == "no-such-chip-label"
                && error.description.contains("no GPIO chip is labelled no-such-chip-label")
        }
    }

    @Test("finding a line by name on any chip reports the name when no chip has it")
    func missingLine() {
        #expect {
            _ = try GPIODOutputLines(specs: [
                OutputLineSpec(
                    name: "led", role: .statusLED, chip: "*", line: .name("NO_SUCH_LINE_NAME"), activeLevel: .high)
            ])
        } throws: { error in
            (error as? GPIODError)?.call == findAnywhereCall && (error as? GPIODError)?.line == "NO_SUCH_LINE_NAME"
        }
    }

    @Test("this machine's libgpiod opens with every function the backend calls resolved")
    func realLibrary() throws {
        // The installed library (libgpiod2 here, libgpiod3 in the rig's trixie root), not a stand-in: the
        // declarations in CGPIOD and GPIODLibrary name functions the real one exports.
        let library = try GPIODLibrary.load(environment: [:])
        #expect(library.path == library.api.soname)
        #expect(try GPIODLibrary.loaded().api == library.api)
    }
}

@Suite("The epoll event loop on real file descriptors", .timeLimit(.minutes(2)))
struct GPIODEventLoopTests {
    @Test("a readable descriptor wakes the loop once per write; stop ends it without any other wakeup")
    func wakesOnReadable() async throws {
        // Pipes stand in for line event descriptors: readable when written to, like a line with an edge queued.
        let pipes = (0..<4).map { _ -> (read: Int32, write: Int32) in
            var ends: [Int32] = [0, 0]
            _ = pipe(&ends)
            return (ends[0], ends[1])
        }
        defer { for end in pipes.flatMap({ [$0.read, $0.write] }) { close(end) } }
        let descriptors = pipes.map(\.read)
        let (seen, continuation) = AsyncStream.makeStream(of: Int.self)
        let loop = try GPIODEventLoop(
            descriptors: descriptors,
            handler: { index in
                var value: UInt8 = 0
                _ = read(descriptors[index], &value, 1)
                continuation.yield(index)
                return true
            }, onExit: { _ in continuation.finish() })
        var one: UInt8 = 1
        _ = write(pipes[2].write, &one, 1)
        var iterator = seen.makeAsyncIterator()
        #expect(await iterator.next() == 2)
        _ = write(pipes[0].write, &one, 1)
        #expect(await iterator.next() == 0)
        loop.join()
        #expect(await iterator.next() == nil)
        // Two reads and the stop: nothing woke the thread in between.
        #expect(loop.wakeups.load(ordering: .relaxed) == 3)
    }
}

@Suite(
    "libgpiod backend on a real chip", .enabled(if: hasGPIOChip, "no /dev/gpiochip* on this machine"),
    .timeLimit(.minutes(2)))
struct GPIODHardwareTests {
    @Test("every chip opens by its own label")
    func chipsOpenByLabel() throws {
        for chip in try GPIODChipInfo.all() {
            #expect(throws: GPIODError.self) {
                // A line name no device tree uses: the chip must open, and the error must be about the line.
                _ = try GPIODInputLines(specs: [
                    InputLineSpec(
                        name: "probe", role: .help, chip: chip.label, line: .name("PANICD_NO_SUCH_LINE"),
                        contact: .normallyOpen, closedLevel: .low, bias: .asIs)
                ])
            }
        }
    }
}
