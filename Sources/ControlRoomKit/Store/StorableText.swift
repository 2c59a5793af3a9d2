import PanicCore

/// What of a genuine record the stores keep as text, made storable in one place for both stores. PostgreSQL's
/// `text` cannot hold NUL (U+0000) at all, and SQLite's C strings would cut at it: a NUL in a genuinely signed
/// record used to fail the whole ingest transaction on PostgreSQL (a 500, nothing logged), and since the box sends
/// the same batch again, every later record of that box with it, forever.
///
/// - A NUL in a field that names the record (its id, the previous record's hash, the alert a clear confirms) makes
///   the record unstorable under its own identity: it is refused as `malformed` with a log line saying why, and the
///   rest of the batch (and every later record) is stored as usual. The box keeps it in its outbox; an alert so
///   refused stays pending on the box and shows a fault there.
/// - A NUL in a label (the input that raised an alert) is stored as U+FFFD; the envelope, stored as it came, keeps
///   the original bytes.
public enum StorableText {
    /// Why `record` cannot be stored under its own identity, or nil when it can.
    public static func problem(_ record: Record) -> String? {
        if record.id.unicodeScalars.contains("\u{0}") { return "a NUL byte in its id" }
        if record.previousHash?.unicodeScalars.contains("\u{0}") == true {
            return "a NUL byte in its previous-record hash"
        }
        if case .cleared(let alert, _) = record.body, alert.unicodeScalars.contains("\u{0}") {
            return "a NUL byte in the alert id it clears"
        }
        return nil
    }

    /// A label as the stores keep it: NUL replaced by U+FFFD.
    public static func label(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{0}") else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }
}
