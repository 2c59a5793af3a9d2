import CGPIOD
import PanicCore
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Owns the chips and lines a board requests through libgpiod 1.6; every C pointer stays inside and is released
/// in ``release()``.
///
/// Not Sendable on its own: the GPIOD line types keep it inside a `Mutex`, which serializes every call.
struct GPIODLineSetV1: ~Copyable {
    let api: GPIODv1
    private(set) var chips: [String: OpaquePointer] = [:]
    /// Chips opened through `gpiod_line_find` (one per found line); closed with their line.
    private var foundChips: [OpaquePointer] = []
    private(set) var lines: [OpaquePointer] = []

    init(api: GPIODv1) { self.api = api }

    /// Looks up `line` on chip `label` (opening the chip once), or anywhere when `label` is ``GPIODRequest/anyChip``.
    mutating func line(_ reference: LineReference, chip label: String) throws(GPIODError) -> OpaquePointer {
        if GPIODRequest.anyChip.contains(label) {
            guard case .name(let name) = reference else {
                throw GPIODError(
                    call: "gpiod_line_find", errno: .invalidArgument, line: reference.description, chip: label)
            }
            guard let line = api.gpiod_line_find(name) else {
                throw GPIODError(
                    call: "gpiod_line_find", errno: Errno(rawValue: Glibc.errno), line: name, chip: label)
            }
            if let chip = api.gpiod_line_get_chip(line) { foundChips.append(chip) }
            return line
        }
        let chip: OpaquePointer
        if let open = chips[label] {
            chip = open
        } else {
            guard let opened = api.gpiod_chip_open_by_label(label) else {
                throw GPIODError(call: "gpiod_chip_open_by_label", errno: Errno(rawValue: Glibc.errno), chip: label)
            }
            chips[label] = opened
            chip = opened
        }
        let found: OpaquePointer?
        let call: String
        switch reference {
        case .name(let name):
            found = api.gpiod_chip_find_line(chip, name)
            call = "gpiod_chip_find_line"
        case .offset(let offset):
            found = api.gpiod_chip_get_line(chip, UInt32(clamping: offset))
            call = "gpiod_chip_get_line"
        }
        guard let found else {
            // libgpiod 1.6's gpiod_chip_find_line returns NULL without setting errno when no line matches.
            let code = Glibc.errno
            throw GPIODError(
                call: call, errno: code == 0 ? .noSuchFileOrDirectory : Errno(rawValue: code),
                line: reference.description, chip: label)
        }
        return found
    }

    /// Remembers a requested line so ``release()`` gives it back.
    mutating func requested(_ line: OpaquePointer) { lines.append(line) }

    /// Releases every requested line and closes every chip. Idempotent.
    mutating func release() {
        for line in lines { api.gpiod_line_release(line) }
        lines = []
        for chip in chips.values { api.gpiod_chip_close(chip) }
        chips = [:]
        for chip in foundChips { api.gpiod_chip_close(chip) }
        foundChips = []
    }

    deinit {
        for line in lines { api.gpiod_line_release(line) }
        for chip in chips.values { api.gpiod_chip_close(chip) }
        for chip in foundChips { api.gpiod_chip_close(chip) }
    }
}

extension GPIODChipInfo {
    /// Every chip under /dev through libgpiod 1.6 (empty when the kernel has none). The corresponding C
    /// functions are `gpiod_chip_iter_new` and friends.
    static func all(_ api: GPIODv1) throws(GPIODError) -> [GPIODChipInfo] {
        guard let iterator = api.gpiod_chip_iter_new() else {
            let code = Glibc.errno
            // No /dev/gpiochip* at all is "no chips", not an error.
            if code == ENOENT { return [] }
            throw GPIODError(call: "gpiod_chip_iter_new", errno: Errno(rawValue: code))
        }
        defer { api.gpiod_chip_iter_free(iterator) }
        var chips: [GPIODChipInfo] = []
        while let chip = api.gpiod_chip_iter_next(iterator) {
            chips.append(
                GPIODChipInfo(
                    name: api.gpiod_chip_name(chip).map { String(cString: $0) } ?? "",
                    label: api.gpiod_chip_label(chip).map { String(cString: $0) } ?? "",
                    lines: Int(api.gpiod_chip_num_lines(chip))))
        }
        return chips
    }
}
