import Foundation
import Testing

extension CLISuite {
    /// `panicd sim` outside a source tree finds its shipped scenario, board and routes in the installed share
    /// directory, not in the working directory.
    @Suite("panicd sim finds its files in the share directory")
    struct SimSharePathTests {
        let panicd = Executable("panicd")

        /// A share directory laid out as the package installs it (scripts/build-deb.sh), and an empty working
        /// directory.
        func layout() throws -> (share: URL, cwd: URL) {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("sim-share-\(UUID())")
            let share = root.appendingPathComponent("share/panicbridge")
            let cwd = root.appendingPathComponent("elsewhere")
            let files = FileManager.default
            for directory in ["boards", "sim/routes", "sim/scenarios"] {
                try files.createDirectory(
                    at: share.appendingPathComponent(directory), withIntermediateDirectories: true)
            }
            try files.createDirectory(at: cwd, withIntermediateDirectories: true)
            let source = Executable.repositoryRoot
            for file in [
                "boards/sim.yaml", "sim/routes/jaipur-jctsl-3a.csv", "sim/routes/indore-aictsl-ibus-5438.csv",
                "sim/scenarios/demo.yaml",
            ] {
                try files.copyItem(at: source.appendingPathComponent(file), to: share.appendingPathComponent(file))
            }
            return (share, cwd)
        }

        @Test("the default scenario and the fleet's board and routes come from the share directory")
        func fromShare() throws {
            let (share, cwd) = try layout()
            defer {
                try? FileManager.default.removeItem(at: share.deletingLastPathComponent().deletingLastPathComponent())
            }
            let environment = ["PANICBRIDGE_SHARE": share.path]
            let demo = try panicd.run(["sim"], in: cwd, environment: environment)
            #expect(demo.status == 0, "\(demo.stdout)\n\(demo.stderr)")
            #expect(demo.stdout.contains("PASSED"), "\(demo.stdout)")
            let fleet = try panicd.run(
                ["sim", "--fleet", "2", "--duration", "30s", "--seed", "7"], in: cwd, environment: environment)
            #expect(fleet.status == 0, "\(fleet.stdout)\n\(fleet.stderr)")
            #expect(fleet.stdout.contains("fleet: 2 boxes"), "\(fleet.stdout)")
        }
    }
}
