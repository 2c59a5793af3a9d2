import Foundation
import Testing

@testable import PanicDaemon

/// `StartupPages.release()` (called by `panicd run` at `ready`): the read-only segments' pages leave this process's
/// resident set, and everything the process wrote — its data, its relocated read-only data, its heap — is kept,
/// while the other tests' threads keep running beside it. Run on the test process itself, as the daemon runs it
/// on its own.
@Suite("Start-up pages given back at ready")
struct StartupPagesTests {
    /// Written before the release: `.data`/`.bss`, which a dropped writable page would lose.
    nonisolated(unsafe) static var written = [Int](repeating: 0, count: 4)

    struct Sample: Codable, Equatable {
        var name: String
        var values: [Double]
        var nested: [String: Int]
    }

    /// This process's resident pages of mapped files (`RssFile` in /proc/self/status), in KiB.
    static func residentFilesKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }

    @Test("the read-only segments leave the resident set; written data and code keep working")
    func releases() throws {
        Self.written = [3, 1, 4, 1]
        let sample = Sample(name: "before", values: [1.5, 2.5], nested: ["a": 1])
        let encoded = try JSONEncoder().encode(sample)
        let before = try Self.residentFilesKiB()

        let advised = StartupPages.release()
        let after = try Self.residentFilesKiB()

        // The test binary's text and read-only data are tens of MB, most of them resident after the runner has
        // started; at most what the other tests' threads touch again in between comes back.
        #expect(advised > 8 << 20, "advised \(advised) bytes")
        #expect(after < before / 2, "resident files \(before) KiB before, \(after) KiB after")
        // Written data kept; the code, its metadata and the relocated tables (casts, Codable, Foundation) run.
        #expect(Self.written == [3, 1, 4, 1])
        #expect(try JSONDecoder().decode(Sample.self, from: encoded) == sample)
        #expect((sample as Any) as? any Codable != nil)
        #expect(String(format: "%.2f", 3.14159) == "3.14")
    }
}
