import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension CLISuite {
    /// panicd opens libgpiod at run time (libgpiod.so.3, else libgpiod.so.2): the checks an installer runs say
    /// which one a GPIO board would use, or that neither can be loaded.
    @Suite("panicd boards check and config check name the libgpiod a GPIO board needs")
    struct LibgpiodCLITests {
        let panicd = Executable("panicd")

        /// `PANICBRIDGE_LIBGPIOD` forcing an API whose library this machine lacks (nil when it has both).
        static let missingAPI: (value: String, soname: String, package: String)? = {
            if dlopen("libgpiod.so.3", RTLD_LAZY) == nil { return ("2", "libgpiod.so.3", "libgpiod3") }
            if dlopen("libgpiod.so.2", RTLD_LAZY) == nil { return ("1", "libgpiod.so.2", "libgpiod2") }
            return nil
        }()

        /// A config for the rig's GPIO board (boards/gpio-sim.yaml) with its key, in a fresh directory.
        func gpioConfig() throws -> (directory: URL, config: String) {
            let directory = URL(fileURLWithPath: "/tmp/pblg-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let board = Executable.repositoryRoot.appendingPathComponent("boards/gpio-sim.yaml").path
            let config = directory.appendingPathComponent("panicd.yaml").path
            try """
            board: \(board)
            key: device.key
            outbox:
              path: state/outbox.sqlite
            status_socket: status.sock
            """.write(toFile: config, atomically: true, encoding: .utf8)
            #expect(
                try panicd.run(["keygen", "--out", directory.appendingPathComponent("device.key").path]).status == 0)
            return (directory, config)
        }

        @Test("with libgpiod installed, both checks say which API and library the board would use")
        func found() throws {
            let (directory, config) = try gpioConfig()
            defer { try? FileManager.default.removeItem(at: directory) }
            let check = try panicd.run(["config", "check", "--config", config])
            #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
            #expect(check.stdout.contains("libgpiod: libgpiod "), "\(check.stdout)")
            #expect(check.stdout.contains(", opened as libgpiod.so."), "\(check.stdout)")

            let boards = try panicd.run(["boards", "check"])
            #expect(boards.status == 0, "\(boards.stdout)\(boards.stderr)")
            #expect(boards.stdout.contains("libgpiod: libgpiod "), "\(boards.stdout)")
        }

        @Test(
            "without the library a GPIO board needs, config check fails naming it and its package; boards check warns",
            .enabled(if: missingAPI != nil, "this machine has both libgpiod.so.2 and libgpiod.so.3"))
        func missing() throws {
            let missing = try #require(Self.missingAPI)
            let environment = ["PANICBRIDGE_LIBGPIOD": missing.value]
            let (directory, config) = try gpioConfig()
            defer { try? FileManager.default.removeItem(at: directory) }
            let check = try panicd.run(["config", "check", "--config", config], environment: environment)
            #expect(check.status == 2, "\(check.stdout)\(check.stderr)")
            #expect(check.stderr.contains("board gpio-sim"), "\(check.stderr)")
            #expect(check.stderr.contains("needs libgpiod"), "\(check.stderr)")
            #expect(check.stderr.contains(missing.soname), "\(check.stderr)")
            #expect(check.stderr.contains("install \(missing.package)"), "\(check.stderr)")

            let boards = try panicd.run(["boards", "check"], environment: environment)
            #expect(boards.status == 0, "\(boards.stdout)\(boards.stderr)")
            #expect(boards.stdout.contains("warning: GPIO boards cannot run here"), "\(boards.stdout)")
            #expect(boards.stdout.contains(missing.soname), "\(boards.stdout)")

            // And `panicd run` refuses the board with the same words rather than starting without its buttons.
            let run = try panicd.run(["run", "--config", config], environment: environment)
            #expect(run.status != 0)
            #expect((run.stdout + run.stderr).contains(missing.soname), "\(run.stdout)\(run.stderr)")
        }
    }
}
