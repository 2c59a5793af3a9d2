import PanicSQLite

extension Outbox {
    /// The sequence numbers `backend` has confirmed (its delivered set), for an audit that compares the outbox
    /// with what the backend stored, record by record.
    public func deliveredSequences(backend: String) throws -> Set<Int64> {
        try state.withLock { state in
            let query = try state.statement("SELECT seq FROM delivery WHERE backend = ?1 AND state = 'delivered'")
            try query.bind([.text(backend)])
            var result: Set<Int64> = []
            while try query.step() { result.insert(query.integer(0)) }
            query.reset()
            return result
        }
    }
}
