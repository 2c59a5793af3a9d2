import PanicCore
import PanicSQLite

extension Outbox {
    /// The kind of the record whose id is `id` (a `cleared` record names its alert by id), or nil when the outbox no
    /// longer holds it. A table scan (there is no index on the id): called once per `cleared` record sent to a
    /// receiver that tells a help request's end from an emergency's.
    public func kind(ofRecord id: String) throws -> RecordKind? {
        try state.withLock { state in
            let query = try state.statement("SELECT kind FROM records WHERE uuid = ?1 LIMIT 1")
            try query.bind([.text(id)])
            defer { query.reset() }
            return try query.step() ? RecordKind(rawValue: query.text(0)) : nil
        }
    }
}
