import Foundation
import PanicCore
import PanicHardware
import SystemPackage
import Testing

@testable import PanicLinux

/// The hardware suites, run by `make hil-test` inside a QEMU guest on a real kernel with gpio-sim banks and a
/// 16550 UART (scripts/hil/). One parent, serialized: the serial and daemon suites share `/dev/ttyS1`.
@Suite(
    "Hardware in the loop (make hil-test)", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: SimBank.chip != nil, "no gpio-sim chip labelled panic-sim: only the rig's guest has one"))
struct HIL {}

/// Offsets of the suites' own lines on the panic-sim bank (scripts/hil/guest.sh names them).
private enum Line {
    static let edges = 8
    static let activeHigh = 9
    static let bias = 10
    static let busy = 11
    static let loop = 12
    static let led = 14
    static let buzzer = 15
}

private func input(
    _ name: String, _ line: LineReference, chip: String = SimBank.label, contact: ContactType = .normallyOpen,
    closed: Level, bias: Bias = .asIs
) -> InputLineSpec {
    InputLineSpec(name: name, role: .help, chip: chip, line: line, contact: contact, closedLevel: closed, bias: bias)
}

extension HIL {
    @Suite("libgpiod backend on gpio-sim")
    struct GPIOD {
        @Test("the binary opened the libgpiod API the rig's suite is for (gpiod1: 1.6, gpiod2: 2.x)")
        func api() throws {
            // scripts/hil/guest.sh says which; one build serves both suites, so nothing else tells them apart.
            let expected = try #require(ProcessInfo.processInfo.environment["PANICBRIDGE_HIL_LIBGPIOD"])
            #expect(try GPIODLibrary.loaded().api.rawValue == Int(expected))
        }

        @Test("lines open by chip label and name, by label and offset, and by name on any chip")
        func openByLabelAndName() throws {
            try SimBank.pull(Line.activeHigh, high: true)
            try SimBank.pull(Line.edges, high: false)
            let lines = try GPIODInputLines(specs: [
                input("by-name", .name("T_ACTIVE_HIGH"), closed: .high),
                input("by-offset", .offset(Line.edges), closed: .high),
                input("any-chip", .name("T_AUX_NAMED"), chip: "*", closed: .high),
            ])
            defer { lines.close() }
            // gpio-sim's pulls default to down; T_ACTIVE_HIGH was pulled up above: the values are the lines'.
            #expect(try lines.contactsClosed() == [true, false, false])
            #expect {
                _ = try GPIODInputLines(specs: [input("missing", .name("T_NO_SUCH_LINE"), closed: .high)])
            } throws: { error in
                let error = error as? GPIODError
                return error?.errno == .noSuchFileOrDirectory && error?.line == "T_NO_SUCH_LINE"
                    && error?.chip == SimBank.label
            }
        }

        @Test("both edges arrive, in order, stamped by the kernel on the monotonic clock")
        func bothEdges() async throws {
            try SimBank.pull(Line.edges, high: false)
            let lines = try GPIODInputLines(specs: [input("edges", .offset(Line.edges), closed: .high)])
            defer { lines.close() }
            let (edges, task) = Inbox<EdgeEvent>.draining(lines.edges())
            defer { task.cancel() }
            let clock = SystemMonotonicClock()
            var stamps: [MonotonicInstant] = []
            for (high, expected) in [(true, Edge.rising), (false, .falling), (true, .rising), (false, .falling)] {
                let before = clock.now
                try SimBank.pull(Line.edges, high: high)
                let edge = try #require(try await edges.next("a \(expected) edge"))
                #expect(edge.edge == expected)
                #expect(edge.name == "edges")
                #expect(before <= edge.timestamp && edge.timestamp <= clock.now)
                stamps.append(edge.timestamp)
            }
            #expect(stamps == stamps.sorted())
        }

        @Test("active-low and bias: the kernel applies the pull the board asks for, and low reads as closed")
        func activeLowAndBias() async throws {
            // Pulled down by the rig first, so only the request's bias can pull it up.
            try SimBank.pull(Line.bias, high: false)
            do {
                let lines = try GPIODInputLines(specs: [input("bias", .offset(Line.bias), closed: .low, bias: .pullUp)])
                defer { lines.close() }
                #expect(try SimBank.level(Line.bias) == true, "the pull-up bias reached gpio-sim")
                #expect(try lines.contactsClosed() == [false], "high on an active-low contact is open")
                let (edges, task) = Inbox<EdgeEvent>.draining(lines.edges())
                defer { task.cancel() }
                try SimBank.pull(Line.bias, high: false)
                #expect(try await edges.next("the press")?.edge == .rising, "low is closed: a rising logical edge")
                #expect(try lines.contactsClosed() == [true])
                try SimBank.pull(Line.bias, high: true)
                #expect(try await edges.next("the release")?.edge == .falling)
            }
            let lines = try GPIODInputLines(specs: [input("bias", .offset(Line.bias), closed: .high, bias: .pullDown)])
            defer { lines.close() }
            #expect(try SimBank.level(Line.bias) == false, "the pull-down bias reached gpio-sim")
            #expect(try lines.contactsClosed() == [false])
        }

        @Test("a second consumer gets EBUSY naming line and chip; closing releases the line")
        func busyAndRelease() throws {
            let spec = input("busy", .name("T_BUSY"), closed: .high)
            let first = try GPIODInputLines(specs: [spec])
            #expect {
                _ = try GPIODInputLines(specs: [spec])
            } throws: { error in
                let error = error as? GPIODError
                return error?.errno == .resourceBusy && error?.line == "T_BUSY" && error?.chip == SimBank.label
                    && error?.description.contains("held by another consumer") == true
            }
            #expect(throws: GPIODError.self) {
                _ = try GPIODOutputLines(specs: [
                    OutputLineSpec(
                        name: "led", role: .statusLED, chip: SimBank.label, line: .offset(Line.busy),
                        activeLevel: .high)
                ])
            }
            first.close()
            let again = try GPIODInputLines(specs: [spec])
            again.close()
            // And a value that goes away releases its lines too.
            do { _ = try GPIODInputLines(specs: [spec]) }
            try GPIODInputLines(specs: [spec]).close()
        }

        @Test("LED and buzzer outputs drive their lines, active-low inverted, off on close")
        func outputs() throws {
            let outputs = try GPIODOutputLines(specs: [
                OutputLineSpec(
                    name: "led", role: .statusLED, chip: SimBank.label, line: .name("T_LED"), activeLevel: .high),
                OutputLineSpec(
                    name: "buzzer", role: .buzzer, chip: SimBank.label, line: .offset(Line.buzzer), activeLevel: .low),
            ])
            #expect(try SimBank.level(Line.led) == false)
            #expect(try SimBank.level(Line.buzzer) == true, "an active-low buzzer is off at high")
            try outputs.set(0, on: true)
            try outputs.set(1, on: true)
            #expect(try SimBank.level(Line.led) == true)
            #expect(try SimBank.level(Line.buzzer) == false)
            try outputs.set(0, on: false)
            #expect(try SimBank.level(Line.led) == false)
            outputs.close()
            // Released: another consumer may take them.
            try GPIODOutputLines(specs: [
                OutputLineSpec(
                    name: "led", role: .statusLED, chip: SimBank.label, line: .offset(Line.led), activeLevel: .high)
            ]).close()
        }
    }

    @Suite("The input classifier on real edges")
    struct Classifier {
        @Test("press, bounce burst, NC loop cut and restore, from gpio-sim edges through InputService")
        func endToEnd() async throws {
            // A normally-closed emergency loop to GND: closed (low) at rest.
            try SimBank.pull(Line.loop, high: false)
            let spec = InputLineSpec(
                name: "loop", role: .emergency, chip: SimBank.label, line: .name("T_LOOP"),
                contact: .normallyClosed, closedLevel: .low, bias: .asIs, debounce: .milliseconds(20),
                // A hold longer than a board's (100 ms): the guest is emulated (TCG, one host thread for both
                // vCPUs) and can stop for a few hundred ms between two of the burst's writes, which makes a real
                // opening of that length, not a bounce. The bounce's lost and late edges are InputService's part.
                hold: .milliseconds(500), wireCutAfter: .milliseconds(1500))
            let lines = try GPIODInputLines(specs: [spec])
            defer { lines.close() }
            let service = InputService(lines: lines, clock: SystemMonotonicClock())
            let run = Task { try await service.run() }
            defer { run.cancel() }
            await service.watching()
            let (events, drain) = Inbox<InputEvent>.draining(service.events)
            defer { drain.cancel() }

            // A press: the loop opens for 400 ms.
            try SimBank.pull(Line.loop, high: true)
            #expect(try await events.next("the press")?.kind == .emergency)
            try await Task.sleep(for: .milliseconds(300))
            try SimBank.pull(Line.loop, high: false)
            #expect(try await events.next("the release")?.kind == .emergencyReleased)

            // A bounce burst: twenty edges back to back, ending closed. Nothing may come of it, so the next
            // event must be the cut's, and date from after the burst.
            for index in 0..<20 { try SimBank.pull(Line.loop, high: index % 2 == 0) }
            try SimBank.pull(Line.loop, high: false)
            let afterBurst = SystemMonotonicClock().now

            // A cut: the loop stays open past the wire-cut time.
            try await Task.sleep(for: .milliseconds(200))
            try SimBank.pull(Line.loop, high: true)
            let cut = try await events.next("the cut's emergency")
            #expect(cut?.kind == .emergency)
            #expect(try #require(cut).since > afterBurst, "the bounce burst raised nothing")
            let wireCut = try await events.next("the wire-cut fault")
            #expect(wireCut?.kind == .wireCut)
            if let cut, let wireCut { #expect(cut.since.duration(to: wireCut.at) >= .milliseconds(1500)) }

            // Restored: the loop closes again.
            try SimBank.pull(Line.loop, high: false)
            let restored = try await events.until("the wire restored") { $0.kind == .wireRestored }
            #expect(restored.allSatisfy { [.wireRestored, .emergencyReleased].contains($0.kind) })
        }
    }
}
