import ArgumentParser
import Foundation
import Logging
import PanicCore
import PanicSigning
import PanicStore

/// `panicd outbox …`: inspect the durable outbox.
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Inspect the signed-record outbox (SQLite).",
        subcommands: [Status.self, Export.self, Identities.self, CrashChild.self, DrainCrashChild.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "The outbox database.")
        var db: String

        @Option(help: "The device key file.")
        var key: String

        func open() throws -> Outbox {
            let key: DeviceKey
            do { key = try DeviceKey.load(path: self.key) } catch { throw CLIError(error.description) }
            var logger = Logger(label: "panicd.outbox")
            logger.logLevel = .notice
            do {
                return try Outbox(path: db, sealer: RecordSigner(key: key), logger: logger)
            } catch {
                throw CLIError("cannot open outbox: \(error)")
            }
        }
    }

    /// `panicd outbox status`: no key needed, safe beside a running daemon.
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print record counts and delivery state (reads only; no key needed, safe while panicd runs).")

        @Option(help: "The outbox database.")
        var db = "/var/lib/panicd/outbox.sqlite"

        func run() throws {
            let status: OutboxStatus
            do { status = try Outbox.status(readingOnly: db) } catch {
                throw CLIError("cannot read the outbox: \(error)")
            }
            print("records \(status.records) (\(status.bytes) bytes), last seq \(status.lastSequence)")
            print("undelivered \(status.undelivered), dropped unreported \(status.droppedUnreported)")
            if !status.faults.isEmpty { print("faults \(status.faults.joined(separator: ", "))") }
            for backend in status.backends {
                print(
                    "backend \(backend.name) (\(backend.backlogOrder.rawValue)): undelivered \(backend.undelivered), "
                        + "in flight \(backend.inFlight), highest delivered \(backend.highestDelivered)")
            }
        }
    }

    /// `panicd outbox identities`: each record's sequence, envelope SHA-256 and the backends that confirmed it, for
    /// an audit by identity against a receiver (`controlroom records` prints the same two first columns).
    struct Identities: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print each record's sequence, envelope SHA-256 and confirming backends (reads only, no key).")

        @Option(help: "The outbox database.")
        var db = "/var/lib/panicd/outbox.sqlite"

        func run() throws {
            let records: [(sequence: Int64, envelope: String, deliveredTo: [String])]
            do { records = try Outbox.envelopes(readingOnly: db) } catch {
                throw CLIError("cannot read the outbox: \(error)")
            }
            for record in records {
                let backends = record.deliveredTo.isEmpty ? "-" : record.deliveredTo.joined(separator: ",")
                print("\(record.sequence)\t\(Envelope.hash(record.envelope))\t\(backends)")
            }
        }
    }

    /// `panicd outbox export`: the stored envelopes, one per line, for `panicd verify`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print stored envelopes, one per line, in order.")
        @OptionGroup var options: Options

        func run() throws {
            for record in try options.open().records() { print(record.envelope) }
        }
    }

    /// Hidden: appends records for ever, printing each sequence number once its commit returned. The crash
    /// test SIGKILLs it at random moments.
    struct CrashChild: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "crash-child", shouldDisplay: false)
        @OptionGroup var options: Options

        @Option(help: "Records per transaction.")
        var batch = 1

        @Option(help: "Stop after this many records (0: never).")
        var count = 0

        func run() throws {
            let outbox = try options.open()
            var appended = 0
            var index = 0
            while count == 0 || appended < count {
                let drafts = (0..<batch).map { _ in
                    index += 1
                    return SampleDrafts.draft(index)
                }
                var lines = ""
                for outcome in try outbox.append(contentsOf: drafts) {
                    if case .stored(let record) = outcome { lines += "\(record.sequence)\n" }
                }
                // One unbuffered write(2) after the commit returned: what the parent reads is committed.
                FileHandle.standardOutput.write(Data(lines.utf8))
                appended += batch
            }
        }
    }

    /// Hidden: appends records and drains them to a stand-in receiver (a file), printing each step once it returned:
    /// `stored N` per committed record, `claimed N N …` after a claim (committed without waiting for the disk),
    /// `received` once the receiver file holds the batch (fsynced, as a control room commits before it answers),
    /// `delivered` after the confirmation (not waiting for the disk either). `DrainCrashTests` SIGKILLs it at random
    /// moments and checks that every stored record is still pending or delivered, and delivered only if received.
    struct DrainCrashChild: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "drain-crash-child", shouldDisplay: false)
        @OptionGroup var options: Options

        @Option(help: "The receiver's file: one line per record received, `sequence hash`.")
        var receiver: String

        @Option(help: "Records appended per round.")
        var batch = 7

        @Option(help: "Most records claimed per round (per lane).")
        var claim = 10

        @Option(help: "Stop appending after this many records and exit once everything is delivered (default: never).")
        var records: Int?

        func run() throws {
            let outbox = try options.open()
            try outbox.register(backend: "receiver")
            let file = open(receiver, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard file >= 0 else { throw CLIError("cannot open \(receiver): \(String(cString: strerror(errno)))") }
            defer { close(file) }
            func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
            var appended = 0
            var index = 0
            while true {
                if records.map({ appended < $0 }) ?? true {
                    let drafts = (0..<batch).map { _ in
                        index += 1
                        return SampleDrafts.draft(index)
                    }
                    var lines = ""
                    for outcome in try outbox.append(contentsOf: drafts) {
                        if case .stored(let record) = outcome { lines += "stored \(record.sequence)\n" }
                    }
                    FileHandle.standardOutput.write(Data(lines.utf8))
                    appended += batch
                }
                let now = RecordTime(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
                let claimed =
                    try outbox.claimUrgent(for: "receiver", limit: claim)
                    + outbox.claimRoutine(for: "receiver", limit: claim, now: now)
                if claimed.isEmpty {
                    if records.map({ appended >= $0 }) ?? false { return }
                    continue
                }
                say("claimed " + claimed.map { "\($0.sequence)" }.joined(separator: " "))
                let lines = claimed.map { "\($0.sequence) \(Envelope.hash($0.envelope))\n" }.joined()
                let written = lines.utf8.withContiguousStorageIfAvailable { write(file, $0.baseAddress, $0.count) }
                guard written == lines.utf8.count, fsync(file) == 0 else { throw CLIError("cannot write \(receiver)") }
                say("received")
                try outbox.markDelivered(claimed.map(\.sequence), backend: "receiver")
                say("delivered")
            }
        }
    }
}
