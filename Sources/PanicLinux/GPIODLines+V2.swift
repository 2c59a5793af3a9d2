import CGPIOD
import Foundation
import PanicCore
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The libgpiod 2 settings a board file's line asks for (what ``GPIODRequest/settings(for:)-(InputLineSpec)``
/// returns), applied to a `gpiod_line_settings` by ``apply(to:)``.
public struct GPIODLineSettings: Sendable, Equatable {
    public var output: Bool
    public var activeLow: Bool
    public var bias: Bias
    /// Both edges, for inputs; none for outputs.
    public var bothEdges: Bool

    /// Sets direction, edges (stamped on CLOCK_MONOTONIC, the daemon's time base), bias and active-low.
    /// The corresponding C functions are `gpiod_line_settings_set_*`.
    func apply(to settings: OpaquePointer, api: GPIODv2) {
        if output {
            _ = api.gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_OUTPUT)
            _ = api.gpiod_line_settings_set_output_value(settings, GPIOD_LINE_VALUE_INACTIVE)
        } else {
            _ = api.gpiod_line_settings_set_direction(settings, GPIOD_LINE_DIRECTION_INPUT)
        }
        if bothEdges {
            _ = api.gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH)
            _ = api.gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC)
        }
        let bias: gpiod_line_bias =
            switch self.bias {
            case .asIs: GPIOD_LINE_BIAS_AS_IS
            case .disabled: GPIOD_LINE_BIAS_DISABLED
            case .pullUp: GPIOD_LINE_BIAS_PULL_UP
            case .pullDown: GPIOD_LINE_BIAS_PULL_DOWN
            }
        _ = api.gpiod_line_settings_set_bias(settings, bias)
        api.gpiod_line_settings_set_active_low(settings, activeLow)
    }
}

extension GPIODRequest {
    /// An input: both edges, active-low when the contact reads `low` while closed, the board's bias.
    public static func settings(for spec: InputLineSpec) -> GPIODLineSettings {
        GPIODLineSettings(output: false, activeLow: spec.closedLevel == .low, bias: spec.bias, bothEdges: true)
    }

    /// An output, off at first: active-low when the LED or buzzer is on at `low`.
    public static func settings(for spec: OutputLineSpec) -> GPIODLineSettings {
        GPIODLineSettings(output: true, activeLow: spec.activeLevel == .low, bias: .asIs, bothEdges: false)
    }
}

/// One requested line: libgpiod 2 requests lines through a chip, but the request outlives the chip.
struct GPIODRequestedLine {
    var request: OpaquePointer
    var offset: UInt32
}

/// The chips under /dev (`gpiod_is_gpiochip_device`), in number order.
private func chipPaths(_ api: GPIODv2) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
    return names.filter { $0.hasPrefix("gpiochip") }
        .sorted { (Int($0.dropFirst(8)) ?? .max, $0) < (Int($1.dropFirst(8)) ?? .max, $1) }
        .map { "/dev/\($0)" }
        .filter { api.gpiod_is_gpiochip_device($0) }
}

/// Opens a chip and reads its info; the caller closes the chip. The corresponding C functions are
/// `gpiod_chip_open` and `gpiod_chip_get_info`.
private func openChip(
    _ path: String, _ api: GPIODv2
) throws(GPIODError) -> (chip: OpaquePointer, info: GPIODChipInfo) {
    guard let chip = api.gpiod_chip_open(path) else {
        throw GPIODError(call: "gpiod_chip_open", errno: Errno(rawValue: Glibc.errno), chip: path)
    }
    guard let info = api.gpiod_chip_get_info(chip) else {
        let code = Glibc.errno
        api.gpiod_chip_close(chip)
        throw GPIODError(call: "gpiod_chip_get_info", errno: Errno(rawValue: code), chip: path)
    }
    defer { api.gpiod_chip_info_free(info) }
    return (
        chip,
        GPIODChipInfo(
            name: api.gpiod_chip_info_get_name(info).map { String(cString: $0) } ?? "",
            label: api.gpiod_chip_info_get_label(info).map { String(cString: $0) } ?? "",
            lines: api.gpiod_chip_info_get_num_lines(info)
        )
    )
}

/// Owns the line requests a board makes; every C pointer stays inside and is released in ``release()``.
///
/// Not Sendable on its own: the GPIOD line types keep it inside a `Mutex`, which serializes every call.
struct GPIODLineSetV2: ~Copyable {
    private(set) var lines: [GPIODRequestedLine] = []

    let api: GPIODv2

    init(api: GPIODv2) { self.api = api }

    /// Requests `reference` on the chip labelled `label` (or on whichever chip has a line of that name, for
    /// ``GPIODRequest/anyChip``) with `settings`, under the consumer `panicd`.
    mutating func request(
        _ reference: LineReference, chip label: String, settings: GPIODLineSettings
    ) throws(GPIODError) -> GPIODRequestedLine {
        let (chip, offset) = try find(reference, chip: label)
        defer { api.gpiod_chip_close(chip) }
        guard let lineSettings = api.gpiod_line_settings_new() else {
            throw GPIODError(call: "gpiod_line_settings_new", errno: Errno(rawValue: Glibc.errno))
        }
        defer { api.gpiod_line_settings_free(lineSettings) }
        settings.apply(to: lineSettings, api: api)
        guard let lineConfig = api.gpiod_line_config_new() else {
            throw GPIODError(call: "gpiod_line_config_new", errno: Errno(rawValue: Glibc.errno))
        }
        defer { api.gpiod_line_config_free(lineConfig) }
        var offsets = [offset]
        guard api.gpiod_line_config_add_line_settings(lineConfig, &offsets, 1, lineSettings) == 0 else {
            throw GPIODError(
                call: "gpiod_line_config_add_line_settings", errno: Errno(rawValue: Glibc.errno),
                line: reference.description, chip: label)
        }
        guard let requestConfig = api.gpiod_request_config_new() else {
            throw GPIODError(call: "gpiod_request_config_new", errno: Errno(rawValue: Glibc.errno))
        }
        defer { api.gpiod_request_config_free(requestConfig) }
        api.gpiod_request_config_set_consumer(requestConfig, GPIODRequest.consumer)
        guard let request = api.gpiod_chip_request_lines(chip, requestConfig, lineConfig) else {
            throw GPIODError(
                call: "gpiod_chip_request_lines", errno: Errno(rawValue: Glibc.errno),
                line: reference.description, chip: label, askedForBias: settings.bias != .asIs)
        }
        let line = GPIODRequestedLine(request: request, offset: offset)
        lines.append(line)
        return line
    }

    /// The open chip holding `reference`, and the line's offset on it.
    private func find(
        _ reference: LineReference, chip label: String
    ) throws(GPIODError) -> (OpaquePointer, UInt32) {
        let anyChip = GPIODRequest.anyChip.contains(label)
        if anyChip, case .offset = reference {
            throw GPIODError(
                call: "gpiod_chip_get_line_offset_from_name", errno: .invalidArgument,
                line: reference.description, chip: label)
        }
        var labelled = false
        for path in chipPaths(api) {
            let (chip, info) = try openChip(path, api)
            guard anyChip || info.label == label else {
                api.gpiod_chip_close(chip)
                continue
            }
            labelled = true
            switch reference {
            case .offset(let offset):
                return (chip, UInt32(clamping: offset))
            case .name(let name):
                let offset = api.gpiod_chip_get_line_offset_from_name(chip, name)
                if offset >= 0 { return (chip, UInt32(offset)) }
                let code = Glibc.errno
                api.gpiod_chip_close(chip)
                if code != ENOENT {
                    throw GPIODError(
                        call: "gpiod_chip_get_line_offset_from_name", errno: Errno(rawValue: code), line: name,
                        chip: label)
                }
                if !anyChip {
                    throw GPIODError(
                        call: "gpiod_chip_get_line_offset_from_name", errno: .noSuchFileOrDirectory, line: name,
                        chip: label)
                }
            }
        }
        if anyChip || labelled {
            throw GPIODError(
                call: "gpiod_chip_get_line_offset_from_name", errno: .noSuchFileOrDirectory,
                line: reference.description, chip: label)
        }
        throw GPIODError(call: "gpiod_chip_info_get_label", errno: .noSuchFileOrDirectory, chip: label)
    }

    /// Releases every request. Idempotent. The corresponding C function is `gpiod_line_request_release`.
    mutating func release() {
        for line in lines { api.gpiod_line_request_release(line.request) }
        lines = []
    }

    deinit {
        for line in lines { api.gpiod_line_request_release(line.request) }
    }
}

extension GPIODChipInfo {
    /// Every chip under /dev through libgpiod 2 (empty when the kernel has none). The corresponding C functions are
    /// `gpiod_is_gpiochip_device`, `gpiod_chip_open` and `gpiod_chip_get_info`.
    static func all(_ api: GPIODv2) throws(GPIODError) -> [GPIODChipInfo] {
        var chips: [GPIODChipInfo] = []
        for path in chipPaths(api) {
            let (chip, info) = try openChip(path, api)
            api.gpiod_chip_close(chip)
            chips.append(info)
        }
        return chips
    }
}
