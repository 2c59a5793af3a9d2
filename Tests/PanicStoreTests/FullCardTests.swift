import Foundation
import PanicCore
import PanicStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A real full file system: a small tmpfs filled to the last block (needs root, as CI runs; elsewhere the test
/// says so and fails rather than pass unseen).
final class FullCard {
    let directory: String
    let mountPoint: String

    init(size: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("card-\(UUID())").path
        mountPoint = directory + "/card"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try FullCard.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", mountPoint])
    }

    deinit {
        try? FullCard.run("/bin/umount", [mountPoint])
        try? FileManager.default.removeItem(atPath: directory)
    }

    var filler: String { mountPoint + "/filler" }

    /// Writes a filler file until the file system refuses another byte.
    func fill() {
        let handle = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        var block = [UInt8](repeating: 0, count: 4096)
        while write(handle, &block, block.count) > 0 {}
        var byte: UInt8 = 0
        while write(handle, &byte, 1) > 0 {}
        _ = close(handle)
    }

    /// Gives the space back.
    func free() { unlink(filler) }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(tool) \(arguments) failed"])
        }
    }
}

@Suite("Outbox on a full card")
struct FullCardTests {
    @Test(
        "a box restarting on a full card opens its outbox, takes presses (held), and commits them when space returns",
        arguments: [false, true])
    func restartOnFullCard(cleanStop: Bool) throws {
        guard getuid() == 0 else {
            Issue.record("this test mounts a small tmpfs to fill it for real: run it as root (CI does)")
            return
        }
        // 1.5 MiB: room for the WAL of the 25 records' commits (below the 256-frame auto-checkpoint) before the card is
        // filled on purpose (each commit writes the records, their two indexes, the chain and the `pending` table with its index).
        let card = try FullCard(size: "1536k")
        let scratch = try Scratch()
        let path = card.mountPoint + "/outbox.db"
        let open = { try Outbox(path: path, sealer: scratch.signer, logger: scratch.logger) }
        var outbox: Outbox? = try open()
        try outbox!.register(backend: "room")
        var committed: [Int64] = []
        for index in 0..<25 {
            let body: RecordBody = index == 20 ? .emergency(input: "driver") : .position
            if let record = stored(try outbox!.append(draft(body))) { committed.append(record.sequence) }
        }
        // Some records were on their way when the power went: the restart must reset them (a write).
        let inFlight = try outbox!.claimRoutine(for: "room", limit: 10, now: t0).map(\.sequence)
        #expect(inFlight.count == 10)
        if cleanStop { outbox = nil }  // else: the old connection stays open, its WAL and -shm in place
        card.fill()

        let reopened = try open()
        defer { _ = outbox }
        #expect(try reopened.records().map(\.sequence) == committed, "what was committed before is all there")
        let press = try reopened.append(draft(.emergency(input: "seat-row")))
        guard case .held = press else {
            Issue.record("the press on a full card should be held in memory, got \(press)")
            return
        }
        #expect(try reopened.status().faults.contains("disk-full"))
        #expect(try reopened.retryHeld().isEmpty, "still full: nothing committed, nothing lost")

        card.free()
        let later = try reopened.retryHeld()
        #expect(later.count == 1)
        #expect(later.first?.sequence == (committed.last ?? 0) + 1, "numbering continues, no gap, no reuse")
        #expect(try reopened.records().count == committed.count + 1)
        // The records in flight at the restart go again.
        let again = try reopened.claimRoutine(for: "room", limit: 100, now: t0).map(\.sequence)
        #expect(Set(inFlight).isSubset(of: Set(again)))
        #expect(scratch.verify(try reopened.records().map(\.envelope)).isEmpty)
    }
}
