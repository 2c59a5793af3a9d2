import ControlRoomKit
import Foundation
import Hummingbird
import NIOPosix
import PanicCore
import Synchronization

/// Login budgets as a pure policy, decided BEFORE any password is hashed. Time is passed in, so it is tested
/// without waiting.
///
/// - Per source (the client's address; an IPv6 address by its /64) and per name at that source: at most `perSource`
///   and `perNameAtSource` attempts inside `window`, where an attempt is a failure or one still being checked. A
///   slot is reserved before the hash runs and given back only as a success, so 30 simultaneous guesses from one
///   address get `perNameAtSource` hashes, not 30.
/// - Global: at most `inFlight` logins queued or hashing at once; past that a login is refused at once (503), so a
///   flood from many addresses costs at most one hashing thread and a short queue. `reservedForClean` of them only
///   take logins from addresses without a failure in the window.
/// - No key names an account alone: an outsider's failures slow down the outsider's address, never the account, so
///   the right password from another address still works during an attack (docs/controlroom.md → Trust model).
public struct LoginBudget: Sendable {
    /// The budgets.
    public struct Limits: Sendable {
        /// Attempts (failures and logins being checked) one source may have inside `window`.
        public var perSource: Int
        /// Attempts for one name from one source inside `window`.
        public var perNameAtSource: Int
        /// Logins queued or hashing at once, over every source.
        public var inFlight: Int
        /// Of `inFlight`, the slots kept for sources without a failure in the window: an attacker's addresses, once
        /// they have failed, cannot fill the queue, so an operator at a clean address still gets in during a flood.
        public var reservedForClean: Int
        /// How far back failures count.
        public var window: Duration

        public init(
            perSource: Int = 10, perNameAtSource: Int = 5, inFlight: Int = 8, reservedForClean: Int = 2,
            window: Duration = .seconds(300)
        ) {
            self.perSource = perSource
            self.perNameAtSource = perNameAtSource
            self.inFlight = inFlight
            self.reservedForClean = reservedForClean
            self.window = window
        }
    }

    /// A reserved attempt: give it back with `finish`.
    public struct Ticket: Sendable, Hashable {
        var keys: [String]
    }

    /// What `reserve` decided.
    public enum Decision: Sendable, Equatable {
        /// Go on and check the password; `finish` the ticket afterwards.
        case go(Ticket)
        /// This source (or this name from it) used its budget: try again after the wait. `newly` the first refusal
        /// since the budget was used up (what is logged and audited: once, not once per refused attempt).
        case throttled(Duration, newly: Bool)
        /// Too many logins are being checked at once: try again in a moment.
        case busy
    }

    public var limits: Limits
    /// Failures per key, oldest first.
    private var failures: [String: [MonotonicInstant]] = [:]
    /// Attempts being checked, per key.
    private var pending: [String: Int] = [:]
    /// Keys refused since their budget was used up, with when they were first refused.
    private var refused: [String: MonotonicInstant] = [:]
    /// Attempts being checked, in all.
    public private(set) var inFlight = 0

    public init(_ limits: Limits = Limits()) { self.limits = limits }

    /// The key a client address is counted under: an IPv4 address as it is, an IPv6 address by its /64 (one
    /// customer's whole allocation).
    public static func sourceKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        // An IPv4 address mapped into IPv6 (::ffff:192.0.2.1) is counted as that IPv4 address.
        if address.contains("."), let last = address.split(separator: ":").last { return String(last) }
        let halves = address.components(separatedBy: "::")
        let head = halves[0].split(separator: ":").map(String.init)
        let tail = halves.count > 1 ? halves[1].split(separator: ":").map(String.init) : []
        let groups = head + Array(repeating: "0", count: max(0, 8 - head.count - tail.count)) + tail
        return groups.prefix(4).joined(separator: ":") + "::/64"
    }

    /// Reserves an attempt for `name` from `source`, or says why not.
    public mutating func reserve(name: String, source: String, now: MonotonicInstant) -> Decision {
        let source = Self.sourceKey(source)
        let keys = ["source " + source, "name " + name + " at " + source]
        let budgets = [limits.perSource, limits.perNameAtSource]
        var longest: Duration?
        for (key, limit) in zip(keys, budgets) {
            let recent = (failures[key] ?? []).filter { $0.duration(to: now) < limits.window }
            failures[key] = recent.isEmpty ? nil : recent
            let used = recent.count + pending[key, default: 0]
            guard used >= limit else { continue }
            // The oldest failures must leave the window first; attempts still being checked end soon.
            let expiring = used - limit + 1
            let wait =
                expiring <= recent.count
                ? limits.window - recent[expiring - 1].duration(to: now) : Duration.seconds(1)
            longest = max(longest ?? wait, wait)
        }
        if let longest {
            let key = keys[0]
            let newly = refused[key].map { $0.duration(to: now) >= limits.window } ?? true
            if newly {
                refused[key] = now
                if refused.count > 10_000 { refused = refused.filter { $0.value.duration(to: now) < limits.window } }
            }
            return .throttled(longest, newly: newly)
        }
        let clean = failures[keys[0]] == nil
        guard inFlight < limits.inFlight - (clean ? 0 : limits.reservedForClean) else { return .busy }
        inFlight += 1
        for key in keys { pending[key, default: 0] += 1 }
        return .go(Ticket(keys: keys))
    }

    /// Gives back a reserved attempt: a failure stays counted for the window; a success forgets the name's
    /// failures at that source (not the source's: a valid account must not reset its address's budget).
    public mutating func finish(_ ticket: Ticket, succeeded: Bool, now: MonotonicInstant) {
        inFlight -= 1
        for key in ticket.keys {
            let left = pending[key, default: 1] - 1
            pending[key] = left > 0 ? left : nil
        }
        if succeeded {
            failures[ticket.keys[1]] = nil
            return
        }
        for key in ticket.keys { failures[key, default: []].append(now) }
        if failures.count > 10_000 {
            failures = failures.filter { $0.value.last.map { $0.duration(to: now) < limits.window } ?? false }
        }
    }
}

extension Desk {
    /// A login: the budgets first (nothing hashed for a source or a name over its budget, or when the hashing
    /// queue is full), then the password on the hashing thread, then a session. Every outcome but a full queue is
    /// written to the audit log.
    func logIn(name: String, password: String, address: String) async throws -> Response {
        let now = clock.now
        let quotedName = SafeText.quoted(name)
        switch logins.withLock({ $0.reserve(name: name, source: address, now: now) }) {
        case .throttled(let wait, let newly):
            let seconds = max(1, wait.components.seconds)
            if newly {
                room.logger.notice(
                    "login budget used: further attempts refused",
                    metadata: ["user": "\(quotedName)", "address": "\(address)", "seconds": "\(seconds)"])
                try await room.auditSecurity(
                    .loginThrottled, by: AuditActor(user: name, role: nil),
                    detail: "from \(address): attempts refused for \(seconds) s")
            }
            var response = ControlRoomServer.json(
                ["error": "too many failed logins from your address: try again in \(seconds) s"],
                status: .tooManyRequests)
            response.headers[.retryAfter] = "\(seconds)"
            return response
        case .busy:
            var response = ControlRoomServer.json(
                ["error": "too many logins at once: try again in a moment"], status: .serviceUnavailable)
            response.headers[.retryAfter] = "1"
            return response
        case .go(let ticket):
            let account: DeskAccount?
            do {
                // A name that cannot exist is refused without hashing: nothing to hide about it.
                if (try? DeskPasswords.check(name: name)) == nil {
                    account = nil
                } else {
                    account = try await room.authenticate(name: name, password: password, hasher: hasher)
                }
            } catch {
                logins.withLock { $0.finish(ticket, succeeded: false, now: clock.now) }
                throw error
            }
            logins.withLock { $0.finish(ticket, succeeded: account != nil, now: clock.now) }
            guard let account else {
                room.logger.notice("login failed", metadata: ["user": "\(quotedName)", "address": "\(address)"])
                try await room.auditSecurity(
                    .loginFailed, by: AuditActor(user: name, role: nil), detail: "from \(address)")
                return ControlRoomServer.json(["error": "wrong name or password"], status: .unauthorized)
            }
            let (id, session) = try await sessions.start(account)
            room.logger.notice(
                "login",
                metadata: ["user": "\(account.name)", "role": "\(account.role.rawValue)", "address": "\(address)"])
            try await room.auditSecurity(.login, by: AuditActor(account), detail: "from \(address)")
            var response = ControlRoomServer.json(SessionInfo(session))
            response.setCookie(sessionCookie(id))
            return response
        }
    }
}
