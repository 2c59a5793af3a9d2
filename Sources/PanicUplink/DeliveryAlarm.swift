import PanicCore

/// A fault the uplink raises for the box's health record, its log and the simulator's timeline. The raw text is
/// what the health record's `faults` carry.
public enum UplinkFault: Sendable, Hashable, CustomStringConvertible {
    /// Requests to a backend keep failing or its answers keep refusing records (`reason`: the last error, or the
    /// wire's word for the refusal), so nothing reaches it.
    case backendFailing(backend: String, reason: String)
    /// Commands from a backend keep failing their checks (a wrongly pinned control-room key, say).
    case commandsRefused(backend: String, reason: String)
    /// An alert was refused for a reason a resend will not fix (fork, replay, device mismatch): it stays pending.
    case alertUndeliverable(backend: String, reason: RejectionReason)

    /// The fault's name in a health record: `backend-failing:NAME`, `commands-refused:NAME`,
    /// `alert-undeliverable:NAME:REASON`.
    public var description: String {
        switch self {
        case .backendFailing(let backend, _): "backend-failing:\(backend)"
        case .commandsRefused(let backend, _): "commands-refused:\(backend)"
        case .alertUndeliverable(let backend, let reason): "alert-undeliverable:\(backend):\(reason.rawValue)"
        }
    }

    /// Why, in words, for the log and the timeline.
    public var reason: String {
        switch self {
        case .backendFailing(_, let reason), .commandsRefused(_, let reason): reason
        case .alertUndeliverable(_, let reason): reason.rawValue
        }
    }
}

/// When a run of failures becomes a fault, without I/O: the shell reports each outcome and gets back what to say.
///
/// A failure of one kind is a blip until it has happened `threshold` times in a row; then the fault is raised
/// (logged at error, in the health record, an `UplinkEvent.fault`). While it lasts it is logged again, at warning,
/// at every doubling of the run (8, 16, 32, ...), so the log names the reason without filling the disk. One success
/// clears it.
public struct DeliveryAlarm: Sendable, Equatable {
    /// What the shell must do after an outcome.
    public enum Action: Sendable, Equatable {
        /// The failure became a fault: log it at error, report it.
        case raise(count: Int)
        /// The fault goes on: log it again at warning.
        case repeatWarning(count: Int)
        /// The fault is over.
        case clear
    }

    /// Failures in a row before a fault is raised.
    public var threshold: Int
    /// Failures in a row so far.
    public private(set) var streak = 0
    /// Whether the fault is raised.
    public private(set) var raised = false

    public init(threshold: Int = 3) { self.threshold = threshold }

    /// One more failure.
    public mutating func failed() -> Action? {
        streak += 1
        if !raised, streak >= threshold {
            raised = true
            return .raise(count: streak)
        }
        if raised, streak.nonzeroBitCount == 1, streak > threshold { return .repeatWarning(count: streak) }
        return nil
    }

    /// A success: the run is over.
    public mutating func succeeded() -> Action? {
        streak = 0
        guard raised else { return nil }
        raised = false
        return .clear
    }
}
