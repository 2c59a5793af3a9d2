import Logging
import PanicSQLite

/// Stream continuity: the outbox's chain (last sequence number and hash) is mirrored in a `StreamMark` outside the
/// outbox, written after every commit and before anyone may send what was committed. When the outbox comes back
/// behind its mark — moved aside as corrupt, deleted, replaced by an older image while the key and mark stayed —
/// numbering continues after the mark, linked to its hash, so no sequence number is ever reused under the same key;
/// the next health record carries the fault `outbox-lost`, which the control room shows as "outbox lost" on the
/// device. Records that were only in the lost outbox appear there as gaps.
extension Outbox {
    /// The health fault raised when the outbox was found behind the stream mark (its records were lost).
    public static let outboxLostFault = "outbox-lost"
    /// The health fault raised while the stream mark cannot be written (the next commit tries again).
    public static let markUnwritableFault = "stream-mark-unwritable"

    /// Opens the mark at `markPath` and reconciles it with the outbox's chain: returns the mark (nil when it cannot
    /// be opened, which is logged and reported) and the chain to continue from.
    static func continueStream(
        markPath: String, device: String, sequence: Int64, hash: String?, connection: SQLiteConnection,
        logger: Logger
    ) throws -> (StreamMark?, Int64, String?) {
        let mark: StreamMark
        do {
            mark = try StreamMark(path: markPath)
        } catch {
            logger.error(
                "cannot open the stream mark: a lost outbox would restart numbering at 1",
                metadata: ["error": "\(error)"])
            try addFault(markUnwritableFault, connection)
            return (nil, sequence, hash)
        }
        if let known = mark.mark, known.device != device {
            logger.warning(
                "stream mark belongs to another device; replacing it",
                metadata: ["path": "\(markPath)", "marked": "\(known.device)", "device": "\(device)"])
        } else if let known = mark.mark, known.sequence > sequence {
            logger.error(
                "outbox is behind the stream mark: its records were lost; continuing the stream after the mark",
                metadata: [
                    "path": "\(connection.path)", "mark": "\(markPath)", "outbox-last-seq": "\(sequence)",
                    "mark-seq": "\(known.sequence)",
                ])
            try connection.prepare(
                """
                INSERT INTO chain(device, last_seq, last_hash) VALUES(?1, ?2, ?3)
                ON CONFLICT(device) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash
                """
            ).bind([.text(device), .integer(known.sequence), known.hash.map { .text($0) } ?? .null]).run()
            try addFault(outboxLostFault, connection)
            return (mark, known.sequence, known.hash)
        }
        if mark.mark != StreamMark.Mark(device: device, sequence: sequence, hash: hash) {
            let created = mark.mark == nil
            do {
                try mark.write(StreamMark.Mark(device: device, sequence: sequence, hash: hash))
                if created { try mark.syncDirectory() }
            } catch {
                logger.error("cannot write the stream mark", metadata: ["error": "\(error)"])
                try addFault(markUnwritableFault, connection)
            }
        }
        return (mark, sequence, hash)
    }

    /// Moves the mark to the chain just committed (called under the lock, after COMMIT, before the records are
    /// handed out). A failure is logged once and retried at the next commit.
    func advanceMark(_ state: State) {
        guard let mark = state.mark else { return }
        do {
            try mark.write(StreamMark.Mark(device: sealer.deviceID, sequence: state.lastSequence, hash: state.lastHash))
            if state.markOwed {
                state.markOwed = false
                logger.notice("stream mark written again", metadata: ["path": "\(mark.path)"])
            }
        } catch {
            if !state.markOwed {
                logger.error(
                    "cannot write the stream mark; retrying at the next commit", metadata: ["error": "\(error)"])
            }
            state.markOwed = true
        }
    }
}
