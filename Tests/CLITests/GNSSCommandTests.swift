import Foundation
import Testing

extension CLISuite {
    @Suite("panicd gnss decode")
    struct GNSSCommandTests {
        let panicd = Executable("panicd")
        let fixtures = "Tests/NMEATests/Fixtures/"

        @Test("a file decodes to one gpsd TPV object per epoch")
        func decodeFile() throws {
            let output = try panicd.run(["gnss", "decode", fixtures + "navic-handwritten.log"])
            #expect(output.status == 0, "\(output.stderr)")
            let lines = output.stdout.split(separator: "\n")
            #expect(lines.count == 5)
            let firstLine = try #require(lines.first)
            let first = try #require(JSONSerialization.jsonObject(with: Data(firstLine.utf8)) as? [String: Any])
            #expect(first["class"] as? String == "TPV")
            #expect(first["mode"] as? Int == 3)
            #expect(first["time"] as? String == "2026-11-20T05:30:00.000Z")
            #expect(first["lat"] as? Double == 12.9766)
            #expect(lines.last == #"{"class":"TPV","mode":1,"time":"2026-11-20T05:30:04.000Z"}"#)
        }

        @Test("standard input decodes the same as the file, and --stats counts by reason on stderr")
        func stdinAndStats() throws {
            let path = fixtures + "firefly-II.log"
            let bytes = try Data(contentsOf: Executable.repositoryRoot.appendingPathComponent(path))
            let fromFile = try panicd.run(["gnss", "decode", path])
            let fromStdin = try panicd.run(["gnss", "decode", "--stats", "-"], stdin: bytes)
            #expect(fromStdin.status == 0)
            #expect(fromStdin.stdout == fromFile.stdout)
            #expect(fromStdin.stderr.contains("accepted "))
            #expect(fromStdin.stderr.contains("rejected bad-checksum 23"))
        }

        @Test("a missing file is an error naming the file")
        func missingFile() throws {
            let output = try panicd.run(["gnss", "decode", "no-such.log"])
            #expect(output.status != 0)
            #expect(output.stderr.contains("no-such.log"))
        }

        @Test("watch needs exactly one of --port, --gpsd and --live")
        func watchArguments() throws {
            let output = try panicd.run(["gnss", "watch"])
            #expect(output.status != 0)
            #expect(output.stderr.contains("one of --port, --gpsd or --live"), "\(output.stderr)")
        }
    }
}
