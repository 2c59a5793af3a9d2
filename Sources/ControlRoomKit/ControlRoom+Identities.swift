import PanicCore

/// One stored record as an auditor compares it: its sequence number and the SHA-256 of its envelope.
public struct RecordIdentity: Sendable, Hashable, Codable {
    public var sequence: Int64
    public var hash: String

    public init(sequence: Int64, hash: String) {
        self.sequence = sequence
        self.hash = hash
    }
}

extension ControlRoom {
    /// The identity of every record stored for `device`, in sequence order: what a box's outbox is compared with
    /// to prove nothing it committed is missing (by identity, not by count).
    public func recordIdentities(device: String) async throws -> [RecordIdentity] {
        try await store.recordIdentities(device: device)
    }
}
