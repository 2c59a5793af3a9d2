// outbox-bench: how close a durable append gets to the disk's own fdatasync, and the outbox's throughput.
// Usage: outbox-bench [DIRECTORY] [COUNT] [SIZES]   (default: .build-bench/outbox-bench, 1000, 1000,10000,50000)
// SIZES: the stored-record counts at which status cost and press latency are measured (an outbox full of
// delivered records, as a box has after weeks on the road).
import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning
import PanicStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
let directory = arguments.count > 1 ? arguments[1] : ".build-bench/outbox-bench"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000
let sizes = (arguments.count > 3 ? arguments[3] : "1000,10000,50000").split(separator: ",").compactMap { Int($0) }
let clock = SystemMonotonicClock()

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func format(_ value: Double) -> String { String(format: "%.3f", value) }

/// Reports an I/O failure and exits (a benchmark has nothing to recover).
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("outbox-bench: \(message)\n".utf8))
    exit(1)
}

try? FileManager.default.removeItem(atPath: directory)
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

// 1. Raw fdatasync beside commits: one 4 KiB page written and fdatasynced next to the database, alternating with
// the commits of step 3 so that both see the same disk at the same moments.
let probe = directory + "/fdatasync.probe"
let fd = open(probe, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
guard fd >= 0 else { fail("open \(probe): \(String(cString: strerror(errno)))") }
var page = [UInt8](repeating: 0x5A, count: 4096)
var syncIndex = 0
@MainActor func syncSample() -> Double {
    page[0] = UInt8(truncatingIfNeeded: syncIndex)
    let start = clock.now
    let written = page.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t((syncIndex % 64) * 4096)) }
    guard written == 4096, fdatasync(fd) == 0 else { fail("write/fdatasync: \(String(cString: strerror(errno)))") }
    syncIndex += 1
    return milliseconds(start.duration(to: clock.now))
}

// 2. Signatures per second (no store).
let signer = RecordSigner(key: .generate())
let signCount = max(count, 2000)
let signStart = clock.now
var previous: String?
for index in 0..<signCount {
    let record = Record(
        device: signer.deviceID, sequence: Int64(index + 1), previousHash: previous, draft: SampleDrafts.draft(index))
    previous = try signer.seal(record).hash
}
let signSeconds = milliseconds(signStart.duration(to: clock.now)) / 1000

// 3. Record created → signed and committed, one at a time, each followed by a raw fdatasync sample, with a pause
// every 100 commits as a box's writer has. First with SQLite checkpointing inside the commits (the peer), then with
// the daemon's checkpointer on its own connection, which checkpoints in the pauses.
var logger = Logger(label: "outbox-bench")
logger.logLevel = .error
let outbox = try Outbox(path: directory + "/outbox.db", sealer: signer, logger: logger)
@MainActor func sampleCommits(
    _ count: Int, offset: Int, pauses: Bool = false
) async throws -> (
    commits: [Double], syncs: [Double], seconds: Double
) {
    var commits: [Double] = []
    var syncs: [Double] = []
    var spent = 0.0
    for index in 0..<count {
        // A box's writer pauses between positions; every 100 commits, 100 ms (not measured) for the checkpointer.
        if pauses, index > 0, index % 100 == 0 { try await Task.sleep(for: .milliseconds(100)) }
        let start = clock.now
        _ = try outbox.append(SampleDrafts.draft(offset + index))
        let took = milliseconds(start.duration(to: clock.now))
        commits.append(took)
        spent += took
        syncs.append(syncSample())
    }
    return (commits, syncs, spent / 1000)
}
let inCommit = try await sampleCommits(count, offset: 0, pauses: true)
let checkpoints = Mutex<[Outbox.CheckpointCause: Int]>([:])
let checkpointing = Task {
    await outbox.runCheckpointer(clock: clock) { cause, _ in checkpoints.withLock { $0[cause, default: 0] += 1 } }
}
let offPath = try await sampleCommits(count, offset: count, pauses: true)
checkpointing.cancel()
await checkpointing.value
close(fd)
unlink(probe)
let commitSamples = offPath.commits
let syncSamples = offPath.syncs
let singleSeconds = offPath.seconds

// 4. Batched appends: 100 records per transaction.
let batches = max(count / 100, 10)
let batchStart = clock.now
for batch in 0..<batches {
    _ = try outbox.append(contentsOf: (0..<100).map { SampleDrafts.draft(batch * 100 + $0) })
}
let batchSeconds = milliseconds(batchStart.duration(to: clock.now)) / 1000

// 5. Rows read for delivery: claim everything in batches of 500.
try outbox.register(backend: "bench", backlogOrder: .oldestFirst)
let now = RecordTime(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
let readStart = clock.now
var rows = 0
while true {
    // The two lanes' claims, as the uplink makes them: alerts (and clears) first, then everything else.
    var claimed = try outbox.claimUrgent(for: "bench", limit: 500)
    if claimed.isEmpty { claimed = try outbox.claimRoutine(for: "bench", limit: 500, now: now) }
    if claimed.isEmpty { break }
    rows += claimed.count
}
let readSeconds = milliseconds(readStart.duration(to: clock.now)) / 1000

let peerP50 = percentile(inCommit.commits, 0.5)
let peerP99 = percentile(inCommit.commits, 0.99)
let peerSyncP99 = percentile(inCommit.syncs, 0.99)
let syncP50 = percentile(syncSamples, 0.5)
let syncP99 = percentile(syncSamples, 0.99)
let commitP50 = percentile(commitSamples, 0.5)
let commitP99 = percentile(commitSamples, 0.99)
let goal = 1.5 * syncP99 + 1
print("outbox-bench: \(count) samples in \(directory)")
print("raw write+fdatasync (4 KiB):      p50 \(format(syncP50)) ms  p99 \(format(syncP99)) ms")
print(
    "checkpoints inside commits (peer): p50 \(format(peerP50)) ms  p99 \(format(peerP99)) ms"
        + "  (fdatasync p99 beside it \(format(peerSyncP99)) ms)")
print("created → signed+committed:       p50 \(format(commitP50)) ms  p99 \(format(commitP99)) ms (checkpointer)")
let heard = checkpoints.withLock { $0 }
print(
    "checkpoints beside those commits:  \(heard[.idle, default: 0]) in the pauses, \(heard[.busy, default: 0]) at the busy bound"
        + " (\(Outbox.busyCheckpointFrames) frames)")
print("ratio commit/fdatasync:           p50 \(format(commitP50 / syncP50))  p99 \(format(commitP99 / syncP99))")
print(
    "goal commit p99 ≤ 1.5×sync p99 + 1 ms = \(format(goal)) ms: \(commitP99 <= goal ? "met" : "NOT met")")
print("signatures/s (seal, no store):    \(Int(Double(signCount) / signSeconds))")
print("appends/s one at a time:          \(Int(Double(count) / singleSeconds))")
print("appends/s batched (100/txn):      \(Int(Double(batches * 100) / batchSeconds))")
print("rows/s claimed for delivery:      \(Int(Double(rows) / readSeconds)) (\(rows) rows)")

// 6. Status cost and press latency as the outbox fills with delivered records (the daemon's configuration: a
// stream mark beside the key, one backend, the 50,000-record bound).
print(
    "stored records   status p50 (ms)   status max (ms)   file status p50 (ms)   full count p50 (ms)"
        + "   press p50 (ms)   press p99 (ms)")
for size in sizes {
    let scaleDirectory = directory + "/scale-\(size)"
    try FileManager.default.createDirectory(atPath: scaleDirectory, withIntermediateDirectories: true)
    let scaled = try Outbox(
        path: scaleDirectory + "/outbox.db", sealer: signer,
        configuration: OutboxConfiguration(streamMarkPath: scaleDirectory + "/device.key.stream"), logger: logger)
    try scaled.register(backend: "bench", backlogOrder: .oldestFirst)
    var filled = 0
    while filled < size {
        let chunk = min(500, size - filled)
        _ = try scaled.append(contentsOf: (0..<chunk).map { SampleDrafts.draft(filled + $0) })
        filled += chunk
        let claimed =
            try scaled.claimRoutine(for: "bench", limit: chunk, now: now)
            + scaled.claimUrgent(for: "bench", limit: chunk)
        try scaled.markDelivered(claimed.map(\.sequence), backend: "bench")
    }
    var statusSamples: [Double] = []
    for _ in 0..<20 {
        let start = clock.now
        let status = try scaled.status()
        statusSamples.append(milliseconds(start.duration(to: clock.now)))
        guard status.records >= min(size, 50_000) - 1 else { fail("status says \(status.records) records of \(size)") }
    }
    // `panicd outbox status`: the file read beside the running outbox, from its kept counters; beside it the peer,
    // what that status counted before (every record's size summed, the delivery table grouped by backend and state).
    let file = scaleDirectory + "/outbox.db"
    var fileSamples: [Double] = []
    var countSamples: [Double] = []
    let counter = try SQLiteConnection(path: file, create: false)
    for _ in 0..<20 {
        var start = clock.now
        let status = try Outbox.status(readingOnly: file)
        fileSamples.append(milliseconds(start.duration(to: clock.now)))
        guard status.records == (try scaled.status()).records else { fail("the file's status disagrees at \(size)") }
        start = clock.now
        let count = try counter.prepare("SELECT count(*), coalesce(sum(size), 0) FROM records")
        _ = try count.step()
        let groups = try counter.prepare(
            "SELECT d.backend, d.state, count(*), max(d.seq) FROM delivery d JOIN records r ON r.seq = d.seq GROUP BY 1, 2"
        )
        while try groups.step() {}
        countSamples.append(milliseconds(start.duration(to: clock.now)))
    }
    var pressSamples: [Double] = []
    for index in 0..<50 {
        let press = RecordDraft(
            id: UUID().uuidString.lowercased(), time: now, timeSource: .system, fix: nil,
            body: .emergency(input: "bench-\(index)"))
        let start = clock.now
        _ = try scaled.append(press)
        pressSamples.append(milliseconds(start.duration(to: clock.now)))
    }
    print(
        "\(String(size).padding(toLength: 17, withPad: " ", startingAt: 0))"
            + "\(format(percentile(statusSamples, 0.5)).padding(toLength: 18, withPad: " ", startingAt: 0))"
            + "\(format(statusSamples.max() ?? 0).padding(toLength: 18, withPad: " ", startingAt: 0))"
            + "\(format(percentile(fileSamples, 0.5)).padding(toLength: 23, withPad: " ", startingAt: 0))"
            + "\(format(percentile(countSamples, 0.5)).padding(toLength: 22, withPad: " ", startingAt: 0))"
            + "\(format(percentile(pressSamples, 0.5)).padding(toLength: 17, withPad: " ", startingAt: 0))"
            + format(percentile(pressSamples, 0.99)))
}
print("(raw fdatasync of this run: p50 \(format(syncP50)) ms, p99 \(format(syncP99)) ms)")
