/// Whether a device has an answer waiting that needs its request's proof checked: an alert it has not confirmed
/// cleared, or a command it has not acknowledged that is unexpired on the control room's clock (what an answer
/// carries). Pure: a store reads, per device, whether it has such an alert and the latest expiry of its
/// unacknowledged commands; this decides — the same rule on SQLite and PostgreSQL (the pattern of `IntakePlan`).
public enum AnswerPlan {
    /// What a store reads for one device.
    public struct Rows: Sendable, Hashable {
        /// Whether the device has an alert it has not confirmed cleared.
        public var openAlert: Bool
        /// The latest expiry (epoch ms) of its unacknowledged commands; nil when it has none.
        public var latestUnackedExpiryMs: Int64?

        public init(openAlert: Bool, latestUnackedExpiryMs: Int64?) {
            self.openAlert = openAlert
            self.latestUnackedExpiryMs = latestUnackedExpiryMs
        }
    }

    /// Whether the device whose rows are `rows` has an answer at `nowMs`.
    public static func hasAnswer(_ rows: Rows, nowMs: Int64) -> Bool {
        rows.openAlert || (rows.latestUnackedExpiryMs.map { $0 > nowMs } ?? false)
    }
}
