import CGPIOD
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Which libgpiod API the library that panicd opened speaks.
public enum GPIODAPI: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// libgpiod 1.6: Debian 12 "bookworm" (package `libgpiod2`).
    case v1 = 1
    /// libgpiod 2.x: Debian 13 "trixie", Raspberry Pi OS since October 2025 (package `libgpiod3`).
    case v2 = 2

    /// The library's soname: the one number that tells the two APIs apart on disk.
    public var soname: String { self == .v2 ? "libgpiod.so.3" : "libgpiod.so.2" }

    /// The Debian package that installs it, and the release that ships it.
    public var package: String { self == .v2 ? "libgpiod3 (Debian 13 trixie)" : "libgpiod2 (Debian 12 bookworm)" }

    public var description: String { self == .v2 ? "libgpiod 2.x (\(soname))" : "libgpiod 1.6 (\(soname))" }
}

/// libgpiod, opened at run time: `libgpiod.so.3` (API 2.x) or else `libgpiod.so.2` (API 1.6), every function the
/// backend calls resolved up front, so a library that lacks one fails at once, naming it, rather than mid-alarm.
///
/// panicd does not link libgpiod: the same binary runs on bookworm and trixie, and builds without either
/// library's headers (CGPIOD declares the few types and constants it needs). `PANICBRIDGE_LIBGPIOD=1` or `=2`
/// in the environment forces one API. The library stays loaded for the life of the process.
public struct GPIODLibrary: Sendable {
    /// The environment variable that forces one API (`1` or `2`).
    public static let environmentKey = "PANICBRIDGE_LIBGPIOD"

    /// The API of the library that was opened.
    public var api: GPIODAPI {
        switch functions {
        case .v1: .v1
        case .v2: .v2
        }
    }
    /// What was passed to `dlopen`: the soname, or a path when a directory was given.
    public let path: String

    /// The resolved functions of one API: the backend's runtime switch.
    enum Functions: Sendable {
        case v1(GPIODv1)
        case v2(GPIODv2)
    }
    let functions: Functions

    /// The library this process uses, opened at first use (the GPIO backend's first call). Kept, failure
    /// included: whatever was missing at start stays missing.
    public static let shared = Result { () throws(GPIODError) in try load() }

    /// ``shared``, or its error.
    public static func loaded() throws(GPIODError) -> GPIODLibrary { try shared.get() }

    /// Opens libgpiod: the API `environment[PANICBRIDGE_LIBGPIOD]` forces, or `libgpiod.so.3`, then
    /// `libgpiod.so.2`. With `directory`, only the files of those names in it (for tests); otherwise the
    /// dynamic loader's search path (`LD_LIBRARY_PATH`, ld.so.cache).
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment, directory: String? = nil
    ) throws(GPIODError) -> GPIODLibrary {
        let forced: GPIODAPI?
        switch environment[environmentKey] {
        case nil, "": forced = nil
        case let value?:
            guard let api = Int(value).flatMap(GPIODAPI.init(rawValue:)) else {
                throw GPIODError(
                    call: "getenv", errno: .invalidArgument,
                    problem: "\(environmentKey)=\(value) is not an API: 1 (libgpiod 1.6) or 2 (libgpiod 2.x)")
            }
            forced = api
        }
        var failures: [String] = []
        for api in forced.map({ [$0] }) ?? [.v2, .v1] {
            let path = directory.map { "\($0)/\(api.soname)" } ?? api.soname
            guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
                failures.append(dlerror().map { String(cString: $0) } ?? "\(path): cannot be opened")
                continue
            }
            let symbols = Symbols(handle: handle, library: path)
            do throws(GPIODError) {
                switch api {
                case .v1: return GPIODLibrary(path: path, functions: .v1(try GPIODv1(symbols)))
                case .v2: return GPIODLibrary(path: path, functions: .v2(try GPIODv2(symbols)))
                }
            } catch {
                dlclose(handle)
                throw error
            }
        }
        let reasons = failures.joined(separator: "; ")
        if let forced {
            throw GPIODError(
                call: "dlopen", errno: .noSuchFileOrDirectory,
                problem: "\(environmentKey)=\(forced.rawValue) asks for \(forced), which cannot be loaded "
                    + "(install \(forced.package)): \(reasons)")
        }
        throw GPIODError(
            call: "dlopen", errno: .noSuchFileOrDirectory,
            problem: "no libgpiod: neither \(GPIODAPI.v2.soname) (libgpiod 2.x, package \(GPIODAPI.v2.package)) "
                + "nor \(GPIODAPI.v1.soname) (libgpiod 1.6, package \(GPIODAPI.v1.package)) can be loaded; "
                + "install the one your release has: \(reasons)")
    }
}

/// `dlsym` on one opened library, typed by where the result goes.
struct Symbols {
    let handle: UnsafeMutableRawPointer
    let library: String

    /// The function `name`, as the C function type `T`; a missing symbol names the library and the symbol.
    func resolve<T>(_ name: String) throws(GPIODError) -> T {
        guard let symbol = dlsym(handle, name) else {
            throw GPIODError(
                call: "dlsym", errno: .noSuchFileOrDirectory,
                problem: "\(library) lacks \(name): not the libgpiod API its soname promises")
        }
        return unsafeBitCast(symbol, to: T.self)
    }
}

/// The libgpiod 1.6 functions the backend calls (API v1, `libgpiod.so.2`), prototypes from its documentation.
///
/// `@unchecked Sendable`: immutable addresses of C functions in a library that is never unloaded.
struct GPIODv1: @unchecked Sendable {
    typealias Chip = OpaquePointer
    typealias Line = OpaquePointer
    typealias Name = UnsafePointer<CChar>

    // Chips: struct gpiod_chip *gpiod_chip_open_by_label(const char *label), …
    let gpiod_chip_open_by_label: @convention(c) (Name) -> Chip?
    let gpiod_chip_close: @convention(c) (Chip) -> Void
    let gpiod_chip_find_line: @convention(c) (Chip, Name) -> Line?
    let gpiod_chip_get_line: @convention(c) (Chip, UInt32) -> Line?
    let gpiod_chip_name: @convention(c) (Chip) -> Name?
    let gpiod_chip_label: @convention(c) (Chip) -> Name?
    let gpiod_chip_num_lines: @convention(c) (Chip) -> UInt32
    let gpiod_chip_iter_new: @convention(c) () -> OpaquePointer?
    let gpiod_chip_iter_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_chip_iter_next: @convention(c) (OpaquePointer) -> Chip?
    // Lines: struct gpiod_line *gpiod_line_find(const char *name), int gpiod_line_get_value(struct gpiod_line *), …
    let gpiod_line_find: @convention(c) (Name) -> Line?
    let gpiod_line_get_chip: @convention(c) (Line) -> Chip?
    let gpiod_line_release: @convention(c) (Line) -> Void
    let gpiod_line_request_both_edges_events_flags: @convention(c) (Line, Name, Int32) -> Int32
    let gpiod_line_request_output_flags: @convention(c) (Line, Name, Int32, Int32) -> Int32
    let gpiod_line_event_get_fd: @convention(c) (Line) -> Int32
    let gpiod_line_get_value: @convention(c) (Line) -> Int32
    let gpiod_line_set_value: @convention(c) (Line, Int32) -> Int32
    let gpiod_line_event_read_fd_multiple:
        @convention(c) (Int32, UnsafeMutablePointer<gpiod_line_event>, UInt32) -> Int32

    init(_ symbols: Symbols) throws(GPIODError) {
        gpiod_chip_open_by_label = try symbols.resolve("gpiod_chip_open_by_label")
        gpiod_chip_close = try symbols.resolve("gpiod_chip_close")
        gpiod_chip_find_line = try symbols.resolve("gpiod_chip_find_line")
        gpiod_chip_get_line = try symbols.resolve("gpiod_chip_get_line")
        gpiod_chip_name = try symbols.resolve("gpiod_chip_name")
        gpiod_chip_label = try symbols.resolve("gpiod_chip_label")
        gpiod_chip_num_lines = try symbols.resolve("gpiod_chip_num_lines")
        gpiod_chip_iter_new = try symbols.resolve("gpiod_chip_iter_new")
        gpiod_chip_iter_free = try symbols.resolve("gpiod_chip_iter_free")
        gpiod_chip_iter_next = try symbols.resolve("gpiod_chip_iter_next")
        gpiod_line_find = try symbols.resolve("gpiod_line_find")
        gpiod_line_get_chip = try symbols.resolve("gpiod_line_get_chip")
        gpiod_line_release = try symbols.resolve("gpiod_line_release")
        gpiod_line_request_both_edges_events_flags = try symbols.resolve("gpiod_line_request_both_edges_events_flags")
        gpiod_line_request_output_flags = try symbols.resolve("gpiod_line_request_output_flags")
        gpiod_line_event_get_fd = try symbols.resolve("gpiod_line_event_get_fd")
        gpiod_line_get_value = try symbols.resolve("gpiod_line_get_value")
        gpiod_line_set_value = try symbols.resolve("gpiod_line_set_value")
        gpiod_line_event_read_fd_multiple = try symbols.resolve("gpiod_line_event_read_fd_multiple")
    }
}

/// The libgpiod 2.x functions the backend calls (API v2 as of 2.0, `libgpiod.so.3`), prototypes from its
/// documentation.
///
/// `@unchecked Sendable`: immutable addresses of C functions in a library that is never unloaded.
struct GPIODv2: @unchecked Sendable {
    typealias Chip = OpaquePointer
    typealias Request = OpaquePointer
    typealias Name = UnsafePointer<CChar>

    // Chips: struct gpiod_chip *gpiod_chip_open(const char *path), bool gpiod_is_gpiochip_device(const char *), …
    let gpiod_is_gpiochip_device: @convention(c) (Name) -> Bool
    let gpiod_chip_open: @convention(c) (Name) -> Chip?
    let gpiod_chip_close: @convention(c) (Chip) -> Void
    let gpiod_chip_get_info: @convention(c) (Chip) -> OpaquePointer?
    let gpiod_chip_info_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_chip_info_get_name: @convention(c) (OpaquePointer) -> Name?
    let gpiod_chip_info_get_label: @convention(c) (OpaquePointer) -> Name?
    let gpiod_chip_info_get_num_lines: @convention(c) (OpaquePointer) -> Int
    let gpiod_chip_get_line_offset_from_name: @convention(c) (Chip, Name) -> Int32
    let gpiod_chip_request_lines: @convention(c) (Chip, OpaquePointer?, OpaquePointer) -> Request?
    // Settings: struct gpiod_line_settings *gpiod_line_settings_new(void),
    // int gpiod_line_settings_set_direction(struct gpiod_line_settings *, enum gpiod_line_direction), …
    let gpiod_line_settings_new: @convention(c) () -> OpaquePointer?
    let gpiod_line_settings_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_line_settings_set_direction: @convention(c) (OpaquePointer, gpiod_line_direction) -> Int32
    let gpiod_line_settings_set_output_value: @convention(c) (OpaquePointer, gpiod_line_value) -> Int32
    let gpiod_line_settings_set_edge_detection: @convention(c) (OpaquePointer, gpiod_line_edge) -> Int32
    let gpiod_line_settings_set_event_clock: @convention(c) (OpaquePointer, gpiod_line_clock) -> Int32
    let gpiod_line_settings_set_bias: @convention(c) (OpaquePointer, gpiod_line_bias) -> Int32
    let gpiod_line_settings_set_active_low: @convention(c) (OpaquePointer, Bool) -> Void
    // int gpiod_line_config_add_line_settings(struct gpiod_line_config *, const unsigned int *offsets,
    // size_t num_offsets, struct gpiod_line_settings *), …
    let gpiod_line_config_new: @convention(c) () -> OpaquePointer?
    let gpiod_line_config_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_line_config_add_line_settings:
        @convention(c) (OpaquePointer, UnsafePointer<UInt32>, Int, OpaquePointer) -> Int32
    let gpiod_request_config_new: @convention(c) () -> OpaquePointer?
    let gpiod_request_config_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_request_config_set_consumer: @convention(c) (OpaquePointer, Name) -> Void
    // Requests: enum gpiod_line_value gpiod_line_request_get_value(struct gpiod_line_request *, unsigned int), …
    let gpiod_line_request_release: @convention(c) (Request) -> Void
    let gpiod_line_request_get_fd: @convention(c) (Request) -> Int32
    let gpiod_line_request_get_value: @convention(c) (Request, UInt32) -> gpiod_line_value
    let gpiod_line_request_set_value: @convention(c) (Request, UInt32, gpiod_line_value) -> Int32
    let gpiod_line_request_read_edge_events: @convention(c) (Request, OpaquePointer, Int) -> Int32
    // Edge events: struct gpiod_edge_event_buffer *gpiod_edge_event_buffer_new(size_t capacity),
    // struct gpiod_edge_event *gpiod_edge_event_buffer_get_event(struct gpiod_edge_event_buffer *, unsigned long),
    // uint64_t gpiod_edge_event_get_timestamp_ns(struct gpiod_edge_event *), …
    let gpiod_edge_event_buffer_new: @convention(c) (Int) -> OpaquePointer?
    let gpiod_edge_event_buffer_free: @convention(c) (OpaquePointer) -> Void
    let gpiod_edge_event_buffer_get_event: @convention(c) (OpaquePointer, UInt) -> OpaquePointer?
    let gpiod_edge_event_get_event_type: @convention(c) (OpaquePointer) -> gpiod_edge_event_type
    let gpiod_edge_event_get_timestamp_ns: @convention(c) (OpaquePointer) -> UInt64

    init(_ symbols: Symbols) throws(GPIODError) {
        gpiod_is_gpiochip_device = try symbols.resolve("gpiod_is_gpiochip_device")
        gpiod_chip_open = try symbols.resolve("gpiod_chip_open")
        gpiod_chip_close = try symbols.resolve("gpiod_chip_close")
        gpiod_chip_get_info = try symbols.resolve("gpiod_chip_get_info")
        gpiod_chip_info_free = try symbols.resolve("gpiod_chip_info_free")
        gpiod_chip_info_get_name = try symbols.resolve("gpiod_chip_info_get_name")
        gpiod_chip_info_get_label = try symbols.resolve("gpiod_chip_info_get_label")
        gpiod_chip_info_get_num_lines = try symbols.resolve("gpiod_chip_info_get_num_lines")
        gpiod_chip_get_line_offset_from_name = try symbols.resolve("gpiod_chip_get_line_offset_from_name")
        gpiod_chip_request_lines = try symbols.resolve("gpiod_chip_request_lines")
        gpiod_line_settings_new = try symbols.resolve("gpiod_line_settings_new")
        gpiod_line_settings_free = try symbols.resolve("gpiod_line_settings_free")
        gpiod_line_settings_set_direction = try symbols.resolve("gpiod_line_settings_set_direction")
        gpiod_line_settings_set_output_value = try symbols.resolve("gpiod_line_settings_set_output_value")
        gpiod_line_settings_set_edge_detection = try symbols.resolve("gpiod_line_settings_set_edge_detection")
        gpiod_line_settings_set_event_clock = try symbols.resolve("gpiod_line_settings_set_event_clock")
        gpiod_line_settings_set_bias = try symbols.resolve("gpiod_line_settings_set_bias")
        gpiod_line_settings_set_active_low = try symbols.resolve("gpiod_line_settings_set_active_low")
        gpiod_line_config_new = try symbols.resolve("gpiod_line_config_new")
        gpiod_line_config_free = try symbols.resolve("gpiod_line_config_free")
        gpiod_line_config_add_line_settings = try symbols.resolve("gpiod_line_config_add_line_settings")
        gpiod_request_config_new = try symbols.resolve("gpiod_request_config_new")
        gpiod_request_config_free = try symbols.resolve("gpiod_request_config_free")
        gpiod_request_config_set_consumer = try symbols.resolve("gpiod_request_config_set_consumer")
        gpiod_line_request_release = try symbols.resolve("gpiod_line_request_release")
        gpiod_line_request_get_fd = try symbols.resolve("gpiod_line_request_get_fd")
        gpiod_line_request_get_value = try symbols.resolve("gpiod_line_request_get_value")
        gpiod_line_request_set_value = try symbols.resolve("gpiod_line_request_set_value")
        gpiod_line_request_read_edge_events = try symbols.resolve("gpiod_line_request_read_edge_events")
        gpiod_edge_event_buffer_new = try symbols.resolve("gpiod_edge_event_buffer_new")
        gpiod_edge_event_buffer_free = try symbols.resolve("gpiod_edge_event_buffer_free")
        gpiod_edge_event_buffer_get_event = try symbols.resolve("gpiod_edge_event_buffer_get_event")
        gpiod_edge_event_get_event_type = try symbols.resolve("gpiod_edge_event_get_event_type")
        gpiod_edge_event_get_timestamp_ns = try symbols.resolve("gpiod_edge_event_get_timestamp_ns")
    }
}
