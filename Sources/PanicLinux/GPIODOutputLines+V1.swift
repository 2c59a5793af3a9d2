import CGPIOD
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A board's output lines (status LED, buzzer) on Linux GPIO through libgpiod v1.6, requested as outputs
/// under the consumer `panicd`, off at first, active-low where the board says the output is on at `low`.
final class GPIODOutputLinesV1: OutputLines {
    let specs: [OutputLineSpec]
    private let state: Mutex<GPIODLineSetV1>
    private let api: GPIODv1

    /// Requests `specs` as outputs, all off. Throws the first request that fails, naming the line and chip.
    init(specs: [OutputLineSpec], api: GPIODv1) throws(GPIODError) {
        self.specs = specs
        self.api = api
        var set = GPIODLineSetV1(api: api)
        for spec in specs {
            let line = try set.line(spec.line, chip: spec.chip)
            guard
                api.gpiod_line_request_output_flags(line, GPIODRequest.consumer, GPIODRequest.flags(for: spec), 0) == 0
            else {
                throw GPIODError(
                    call: "gpiod_line_request_output_flags", errno: Errno(rawValue: Glibc.errno),
                    line: spec.line.description, chip: spec.chip)
            }
            set.requested(line)
        }
        state = Mutex(set)
    }

    /// Sets output `index` (`gpiod_line_set_value`).
    func set(_ index: Int, on: Bool) throws {
        try state.withLock { set throws(GPIODError) in
            let spec = specs[index]
            guard index < set.lines.count else {
                throw GPIODError(
                    call: "gpiod_line_set_value", errno: .badFileDescriptor, line: spec.line.description,
                    chip: spec.chip)
            }
            guard api.gpiod_line_set_value(set.lines[index], on ? 1 : 0) == 0 else {
                throw GPIODError(
                    call: "gpiod_line_set_value", errno: Errno(rawValue: Glibc.errno), line: spec.line.description,
                    chip: spec.chip)
            }
        }
    }

    /// Turns everything off and releases the lines.
    func close() {
        state.withLock { set in
            for line in set.lines { _ = api.gpiod_line_set_value(line, 0) }
            set.release()
        }
    }

    deinit { close() }
}
