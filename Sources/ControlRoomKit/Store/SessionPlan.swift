/// Whether a desk session read from the store is alive, and what the store writes about it. Pure: a store reads the
/// session's row, this decides, the store deletes or touches as it says — the same expiry on SQLite and PostgreSQL
/// (the pattern of `IntakePlan`).
public enum SessionPlan: Sendable, Hashable {
    /// Dead: delete it, and with it every session last used before `lastUsedBefore` or started before
    /// `startedBefore` (epoch ms).
    case expired(lastUsedBefore: Int64, startedBefore: Int64)
    /// Alive; `touch`: mark it used at now (its last use is `touchAfter` old or more).
    case alive(touch: Bool)

    /// The plan for `session` at `now`: alive while used within `idle` and started within `lifetime` (ms).
    public init(_ session: StoredSession, now: Int64, idle: Int64, lifetime: Int64, touchAfter: Int64) {
        guard now - session.lastUsedMs < idle, now - session.startedMs < lifetime else {
            self = .expired(lastUsedBefore: now - idle, startedBefore: now - lifetime)
            return
        }
        self = .alive(touch: now - session.lastUsedMs >= touchAfter)
    }
}
