import Foundation
import Testing

@testable import PanicLinux

/// Every function the backend resolves, per API (GPIODv1 and GPIODv2): a fake library defines these.
private let v1Symbols = [
    "gpiod_chip_open_by_label", "gpiod_chip_close", "gpiod_chip_find_line", "gpiod_chip_get_line", "gpiod_chip_name",
    "gpiod_chip_label", "gpiod_chip_num_lines", "gpiod_chip_iter_new", "gpiod_chip_iter_free", "gpiod_chip_iter_next",
    "gpiod_line_find", "gpiod_line_get_chip", "gpiod_line_release", "gpiod_line_request_both_edges_events_flags",
    "gpiod_line_request_output_flags", "gpiod_line_event_get_fd", "gpiod_line_get_value", "gpiod_line_set_value",
    "gpiod_line_event_read_fd_multiple",
]
private let v2Symbols = [
    "gpiod_is_gpiochip_device", "gpiod_chip_open", "gpiod_chip_close", "gpiod_chip_get_info", "gpiod_chip_info_free",
    "gpiod_chip_info_get_name", "gpiod_chip_info_get_label", "gpiod_chip_info_get_num_lines",
    "gpiod_chip_get_line_offset_from_name", "gpiod_chip_request_lines", "gpiod_line_settings_new",
    "gpiod_line_settings_free", "gpiod_line_settings_set_direction", "gpiod_line_settings_set_output_value",
    "gpiod_line_settings_set_edge_detection", "gpiod_line_settings_set_event_clock", "gpiod_line_settings_set_bias",
    "gpiod_line_settings_set_active_low", "gpiod_line_config_new", "gpiod_line_config_free",
    "gpiod_line_config_add_line_settings", "gpiod_request_config_new", "gpiod_request_config_free",
    "gpiod_request_config_set_consumer", "gpiod_line_request_release", "gpiod_line_request_get_fd",
    "gpiod_line_request_get_value", "gpiod_line_request_set_value", "gpiod_line_request_read_edge_events",
    "gpiod_edge_event_buffer_new", "gpiod_edge_event_buffer_free", "gpiod_edge_event_buffer_get_event",
    "gpiod_edge_event_get_event_type", "gpiod_edge_event_get_timestamp_ns",
]

/// A directory of stand-in libgpiods, built with the C compiler: real shared objects exporting the given names
/// (functions that are never called), under the real sonames.
private final class FakeLibraries {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-gpiod-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Builds `soname` in the directory, exporting `symbols`.
    func make(_ soname: String, exporting symbols: [String]) throws {
        let source = "\(directory)/\(soname).c"
        try symbols.map { "void \($0)(void) {}\n" }.joined().write(toFile: source, atomically: true, encoding: .utf8)
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-shared", "-fPIC", "-o", "\(directory)/\(soname)", source]
        try compiler.run()
        compiler.waitUntilExit()
        try #require(compiler.terminationStatus == 0, "cc could not build \(soname)")
    }

    /// What loading from the directory throws (nil when it loads).
    func error(environment: [String: String] = [:]) -> GPIODError? {
        do {
            _ = try GPIODLibrary.load(environment: environment, directory: directory)
            return nil
        } catch {
            return error
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite("libgpiod loader: opened at run time, every function resolved up front", .timeLimit(.minutes(2)))
struct LibgpiodLoaderTests {
    @Test("no libgpiod at all: the error names both sonames and both Debian packages")
    func noLibrary() throws {
        let fakes = try FakeLibraries()
        let error = try #require(fakes.error())
        #expect(error.call == "dlopen")
        for needed in [
            "libgpiod.so.3", "libgpiod.so.2", "libgpiod3 (Debian 13 trixie)", "libgpiod2 (Debian 12 bookworm)",
        ] {
            #expect(error.description.contains(needed), "\(error)")
        }
    }

    @Test("a libgpiod.so.3 without one libgpiod 2 function is refused, naming the library and the function")
    func missingSymbol() throws {
        let fakes = try FakeLibraries()
        try fakes.make("libgpiod.so.3", exporting: v2Symbols.filter { $0 != "gpiod_line_request_read_edge_events" })
        // A complete libgpiod 1.6 beside it is no excuse to carry on with a broken library silently.
        try fakes.make("libgpiod.so.2", exporting: v1Symbols)
        let error = try #require(fakes.error())
        #expect(error.call == "dlsym")
        #expect(
            error.description.contains("\(fakes.directory)/libgpiod.so.3 lacks gpiod_line_request_read_edge_events"),
            "\(error)")

        try fakes.make("libgpiod.so.3", exporting: [])
        try fakes.make("libgpiod.so.2", exporting: v1Symbols.filter { $0 != "gpiod_line_event_read_fd_multiple" })
        let v1 = try #require(fakes.error(environment: ["PANICBRIDGE_LIBGPIOD": "1"]))
        #expect(v1.description.contains("libgpiod.so.2 lacks gpiod_line_event_read_fd_multiple"), "\(v1)")
    }

    @Test("libgpiod.so.3 (API 2) is preferred, libgpiod.so.2 (API 1.6) used when it is alone")
    func choice() throws {
        let fakes = try FakeLibraries()
        try fakes.make("libgpiod.so.2", exporting: v1Symbols)
        let alone = try GPIODLibrary.load(environment: [:], directory: fakes.directory)
        #expect(alone.api == .v1)
        #expect(alone.path == "\(fakes.directory)/libgpiod.so.2")

        try fakes.make("libgpiod.so.3", exporting: v2Symbols)
        #expect(try GPIODLibrary.load(environment: [:], directory: fakes.directory).api == .v2)
    }

    @Test("PANICBRIDGE_LIBGPIOD forces one API, and says so when that library is missing or the value is wrong")
    func forced() throws {
        let fakes = try FakeLibraries()
        try fakes.make("libgpiod.so.2", exporting: v1Symbols)
        try fakes.make("libgpiod.so.3", exporting: v2Symbols)
        let forced = try GPIODLibrary.load(environment: ["PANICBRIDGE_LIBGPIOD": "1"], directory: fakes.directory)
        #expect(forced.api == .v1)

        try FileManager.default.removeItem(atPath: "\(fakes.directory)/libgpiod.so.3")
        let missing = try #require(fakes.error(environment: ["PANICBRIDGE_LIBGPIOD": "2"]))
        #expect(missing.description.contains("PANICBRIDGE_LIBGPIOD=2 asks for libgpiod 2.x (libgpiod.so.3)"))
        #expect(missing.description.contains("install libgpiod3 (Debian 13 trixie)"), "\(missing)")

        let wrong = try #require(fakes.error(environment: ["PANICBRIDGE_LIBGPIOD": "v2"]))
        #expect(wrong.description.contains("PANICBRIDGE_LIBGPIOD=v2 is not an API: 1 (libgpiod 1.6) or 2"), "\(wrong)")
    }
}
