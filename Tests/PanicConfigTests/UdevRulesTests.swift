import Foundation
import PanicConfig
import Testing

@Suite("udev rule syntax")
struct UdevRulesTests {
    static let udevDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../udev").standardized

    static func ruleFiles() throws -> [URL] {
        let enumerator = try #require(FileManager.default.enumerator(atPath: udevDirectory.path))
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".rules") }.sorted()
            .map { udevDirectory.appendingPathComponent($0) }
    }

    @Test("every shipped rule file parses into known keys and operators")
    func shippedRulesParse() throws {
        let files = try Self.ruleFiles()
        #expect(files.count >= 6, "expected the GNSS, GPIO and four board rule files, found \(files)")
        for file in files {
            let problems = UdevRules.check(try String(contentsOf: file, encoding: .utf8))
            #expect(problems.isEmpty, "\(file.lastPathComponent): \(problems)")
        }
    }

    @Test("the GNSS rules link every listed vendor to /dev/panic-gnss")
    func gnssRulesCoverVendors() throws {
        let text = try String(
            contentsOf: Self.udevDirectory.appendingPathComponent("60-panicbridge-gnss.rules"), encoding: .utf8)
        for vendor in ["1546", "2c7c", "067b", "10c4", "1a86"] {
            #expect(text.contains("ATTRS{idVendor}==\"\(vendor)\""), "vendor \(vendor) missing")
        }
        #expect(text.components(separatedBy: "SYMLINK+=\"panic-gnss\"").count - 1 >= 5)
    }

    @Test(
        "broken rules are reported with their line",
        arguments: [
            ("KERNEL=\"ttyS0\", SYMLINK+=\"x\"", "can only be matched"),
            ("KERNEL==\"ttyS0\", GROUP==\"panicd\"", "can only be assigned"),
            ("KERNAL==\"ttyS0\"", "unknown key KERNAL"),
            ("ATTRS==\"x\"", "needs an {attribute}"),
            ("KERNEL==ttyS0", "double quotes"),
            ("KERNEL==\"ttyS0\" SYMLINK+=\"x\"", "expected ','"),
            ("KERNEL==\"ttyS0\", MODE=\"660\"", "octal mode"),
            ("KERNEL=~\"ttyS0\"", "unknown operator"),
            ("GOTO=\"nowhere\"", "no matching LABEL"),
        ])
    func brokenRules(rule: String, expected: String) throws {
        let problems = UdevRules.check("# comment\n\n\(rule)\n")
        let problem = try #require(problems.first)
        #expect(problem.line == 3)
        #expect(problem.message.contains(expected), "\(problem.message)")
    }

    @Test("continued lines and labels are understood")
    func continuationAndLabels() {
        let text = """
            SUBSYSTEM!="tty", GOTO="end"
            KERNEL=="ttyS0", \\
              SYMLINK+="panic-gnss"
            LABEL="end"
            """
        #expect(UdevRules.check(text).isEmpty)
    }
}
