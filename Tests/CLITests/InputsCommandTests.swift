import Foundation
import Testing

extension CLISuite {
    @Suite("panicd inputs")
    struct InputsCommandTests {
        let panicd = Executable("panicd")

        @Test("watch on the sim board plays a script in virtual time and prints classified events")
        func watchScript() throws {
            let script = """
                # a bouncy help press, a brushed seat button, a driver loop cut for good
                bounce help 1001 50
                wait 1s
                press seat-row-emergency
                wait 100ms
                release seat-row-emergency
                cut driver-emergency
                wait 12s
                restore driver-emergency
                wait 1s
                """
            let output = try panicd.run(
                ["inputs", "watch", "--board", "boards/sim.yaml", "--script", "-"], stdin: Data(script.utf8))
            #expect(output.status == 0, "\(output.stderr)")
            let lines = output.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
            #expect(
                lines == [
                    "t+0.300s help help [BTN_HELP] help",
                    "t+1.350s emergency driver-emergency [BTN_DRIVER] emergency",
                    "t+11.100s emergency driver-emergency [BTN_DRIVER] wire-cut",
                    "t+13.350s emergency driver-emergency [BTN_DRIVER] wire-restored",
                ])
        }

        @Test("a script naming a line the board lacks fails with the board's line names")
        func unknownLine() throws {
            let output = try panicd.run(
                ["inputs", "watch", "--board", "boards/sim.yaml", "--script", "-"], stdin: Data("press horn\n".utf8))
            #expect(output.status != 0)
            #expect(output.stderr.contains("no input line named horn"))
        }

        @Test("test on the sim board walks LED and buzzer and prints the recorded changes")
        func testOutputs() throws {
            let output = try panicd.run(["inputs", "test", "--board", "boards/sim.yaml"])
            #expect(output.status == 0, "\(output.stderr)")
            #expect(
                output.stdout.hasSuffix(
                    """
                    recorded output changes:
                      t+0.000s status-led on
                      t+1.000s status-led off
                      t+1.500s buzzer on
                      t+1.650s buzzer off

                    """))
        }
    }
}
