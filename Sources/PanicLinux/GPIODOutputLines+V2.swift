import CGPIOD
import PanicCore
import PanicHardware
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A board's output lines (status LED, buzzer) on Linux GPIO through libgpiod 2, requested as outputs under
/// the consumer `panicd`, off at first, active-low where the board says the output is on at `low`.
final class GPIODOutputLinesV2: OutputLines {
    let specs: [OutputLineSpec]
    private let state: Mutex<GPIODLineSetV2>
    private let api: GPIODv2

    /// Requests `specs` as outputs, all off. Throws the first request that fails, naming the line and chip.
    init(specs: [OutputLineSpec], api: GPIODv2) throws(GPIODError) {
        self.specs = specs
        self.api = api
        var set = GPIODLineSetV2(api: api)
        for spec in specs {
            _ = try set.request(spec.line, chip: spec.chip, settings: GPIODRequest.settings(for: spec))
        }
        state = Mutex(set)
    }

    /// Sets output `index` (`gpiod_line_request_set_value`).
    func set(_ index: Int, on: Bool) throws {
        try state.withLock { set throws(GPIODError) in
            let spec = specs[index]
            guard index < set.lines.count else {
                throw GPIODError(
                    call: "gpiod_line_request_set_value", errno: .badFileDescriptor, line: spec.line.description,
                    chip: spec.chip)
            }
            let line = set.lines[index]
            let value = on ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE
            guard api.gpiod_line_request_set_value(line.request, line.offset, value) == 0 else {
                throw GPIODError(
                    call: "gpiod_line_request_set_value", errno: Errno(rawValue: Glibc.errno),
                    line: spec.line.description, chip: spec.chip)
            }
        }
    }

    /// Turns everything off and releases the lines.
    func close() {
        state.withLock { set in
            for line in set.lines {
                _ = api.gpiod_line_request_set_value(line.request, line.offset, GPIOD_LINE_VALUE_INACTIVE)
            }
            set.release()
        }
    }

    deinit { close() }
}
