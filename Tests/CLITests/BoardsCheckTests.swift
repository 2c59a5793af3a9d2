import Foundation
import Testing

extension CLISuite {
    @Suite("panicd boards check")
    struct BoardsCheckTests {
        let panicd = Executable("panicd")

        @Test("with no argument it checks every shipped board and succeeds")
        func shippedBoards() throws {
            let output = try panicd.run(["boards", "check"])
            #expect(output.status == 0, "\(output.stdout)\(output.stderr)")
            #expect(output.stdout.contains("boards/sim.yaml"))
            #expect(output.stdout.contains("error") == false)
        }

        @Test("a broken file gives file:line:column, the key, the problem and exit code 1")
        func brokenFile() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("boards-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let broken = directory.appendingPathComponent("broken.yaml")
            try """
            board: broken
            model: Broken
            chip: pinctrl-bcm2711
            inputs:
              - name: a
                role: emergancy
                line: GPIO17
            gnss:
              baud: 9600
            """.write(to: broken, atomically: true, encoding: .utf8)
            let output = try panicd.run(["boards", "check", broken.path])
            #expect(output.status == 1)
            #expect(output.stdout.contains("\(broken.path):6:11: inputs[0].role: 'emergancy' is not one of"))
            #expect(output.stdout.contains("[unknown-role]"))
            #expect(output.stdout.contains("[missing-gnss-port]"))
            #expect(output.stdout.contains("0 of 1 board files valid"))
        }
    }
}
