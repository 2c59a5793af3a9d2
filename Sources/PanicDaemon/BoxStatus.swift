import Foundation
import PanicCore

/// What `panicd status` shows: the running box at one moment. One JSON object per line on the status socket
/// (field names are the wire contract between the daemon and `panicd status`, both built from this type).
/// It carries no location: a fix is described by its mode, age and satellites only.
public struct BoxStatus: Codable, Sendable, Equatable {
    /// One input line and what it last reported.
    public struct Input: Codable, Sendable, Equatable {
        public var name: String
        public var role: String
        /// The last classified event (`emergency`, `stuck`, …), nil when the line has been quiet since start.
        public var last: String?
        /// Seconds since that event.
        public var lastAgeSeconds: Double?
        /// `wire-cut` or `stuck` while the line cannot raise an alert.
        public var fault: String?
    }

    /// The GNSS fix the next record would carry.
    public struct Fix: Codable, Sendable, Equatable {
        /// Whether the receiver's latest epoch has a position (false in a tunnel).
        public var current: Bool
        /// Age of the last position fix in seconds, nil when there has never been one.
        public var ageSeconds: Double?
        public var mode: String?
        public var satellites: Int?
        public var hdop: Double?
        /// Chunks of receiver output decoded since start: it grows while the receiver talks.
        public var chunksDecoded: Int
    }

    /// One control room and its delivery state.
    public struct Backend: Codable, Sendable, Equatable {
        public var name: String
        /// Records not yet delivered to this backend.
        public var queued: Int
        public var inFlight: Int
        /// `unknown` (nothing sent yet), `reachable` or `unreachable`.
        public var reachability: Reachability
        /// Seconds since the last request that went through.
        public var lastDeliveryAgeSeconds: Double?
        /// Why the last request failed, while it is unreachable (never a location or a record).
        public var lastError: String?
    }

    public enum Reachability: String, Codable, Sendable {
        case unknown, reachable, unreachable
    }

    /// One open alert (an emergency or a help request) and where it stands.
    public struct Alert: Codable, Sendable, Equatable {
        /// The alert's record id.
        public var id: String
        /// `emergency` or `help`.
        public var kind: String
        /// `stored`, `sent`, `acknowledged`, `dispatched` or `on-scene`.
        public var state: String

        public init(id: String, kind: String, state: String) {
            self.id = id
            self.kind = kind
            self.state = state
        }
    }

    public var version: String
    public var device: String
    public var board: String
    /// `armed`, `emergency open`, `help open`, `emergency and help open` or `fault`.
    public var state: String
    public var emergencyOpen: Bool
    /// Every open alert, the emergency first.
    public var alerts: [Alert]
    /// What the LED and buzzer show (`armed`, `stored`, `sent`, `help-on-the-way`, `cleared`, `fault`).
    public var indicator: String
    public var inputs: [Input]
    public var fix: Fix
    public var backends: [Backend]
    /// Records not yet delivered to every backend.
    public var queued: Int
    /// Age of the oldest of them in seconds.
    public var oldestUndeliveredAgeSeconds: Double?
    /// Outbox faults (e.g. `disk-full`) and the last error the daemon logged.
    public var faults: [String]
    public var lastError: String?
    public var uptimeSeconds: Double
    /// The remote configuration's version the box runs; nil: its local file alone.
    public var configVersion: Int? = nil

    /// The one-line summary systemd shows (`STATUS=`): e.g. "armed · fix 1 s · 0 queued · last sent 12 s ago".
    public var summary: String {
        var parts = [state]
        if fix.current, let age = fix.ageSeconds {
            parts.append("fix \(Self.seconds(age))")
        } else if let age = fix.ageSeconds {
            parts.append("no fix (last \(Self.seconds(age)) ago)")
        } else {
            parts.append("no fix yet")
        }
        parts.append("\(queued) queued")
        let sent = backends.compactMap(\.lastDeliveryAgeSeconds).min()
        parts.append(sent.map { "last sent \(Self.seconds($0)) ago" } ?? "nothing sent yet")
        let down = backends.filter { $0.reachability == .unreachable }.map(\.name)
        if !down.isEmpty { parts.append("unreachable: \(down.joined(separator: ", "))") }
        return parts.joined(separator: " · ")
    }

    /// Whole seconds below ten minutes, minutes below two hours, then hours.
    static func seconds(_ value: Double) -> String {
        let whole = Int(value.rounded(.down))
        if whole < 600 { return "\(whole) s" }
        if whole < 7200 { return "\(whole / 60) min" }
        return "\(whole / 3600) h"
    }

    /// The status as lines for a terminal.
    public var text: String {
        var lines = [
            "panicd \(version) · device \(device) · board \(board) · up \(Self.seconds(uptimeSeconds))",
            "state       \(state) (LED \(indicator))",
            "config      " + (configVersion.map { "remote version \($0)" } ?? "local file only"),
        ]
        var fixLine = fix.current ? "current" : "none"
        if let age = fix.ageSeconds { fixLine += ", last position \(Self.seconds(age)) old" }
        if let mode = fix.mode { fixLine += ", \(mode)" }
        if let satellites = fix.satellites { fixLine += ", \(satellites) satellites" }
        if let hdop = fix.hdop { fixLine += ", HDOP \(hdop)" }
        for alert in alerts { lines.append("alert       \(alert.kind) \(alert.id): \(alert.state)") }
        lines.append("fix         \(fixLine) (\(fix.chunksDecoded) chunks decoded)")
        var queue = "\(queued) queued"
        if let age = oldestUndeliveredAgeSeconds { queue += ", oldest \(Self.seconds(age)) old" }
        lines.append("outbox      \(queue)")
        for backend in backends {
            var line = "backend     \(backend.name): \(backend.reachability.rawValue), \(backend.queued) queued"
            if backend.inFlight > 0 { line += ", \(backend.inFlight) in flight" }
            line += backend.lastDeliveryAgeSeconds.map { ", last sent \(Self.seconds($0)) ago" } ?? ", nothing sent"
            if let error = backend.lastError { line += ", last error: \(error)" }
            lines.append(line)
        }
        for input in inputs {
            var line = "input       \(input.name) (\(input.role))"
            if let last = input.last, let age = input.lastAgeSeconds { line += ": \(last) \(Self.seconds(age)) ago" }
            if let fault = input.fault { line += " — FAULT \(fault)" }
            lines.append(line)
        }
        if !faults.isEmpty { lines.append("faults      \(faults.joined(separator: ", "))") }
        if let lastError { lines.append("last error  \(lastError)") }
        return lines.joined(separator: "\n")
    }
}

/// One message on the status socket after the request line: a status, an input event or a GNSS report.
public enum StatusMessage: Codable, Sendable, Equatable {
    case status(BoxStatus)
    case input(InputReport)
    case gnss(GNSSReport)

    /// A classified input event as `panicd inputs watch --live` prints it.
    public struct InputReport: Codable, Sendable, Equatable {
        public var name: String
        public var role: String
        public var kind: String
        /// Milliseconds since the daemon started.
        public var atMilliseconds: Int64
    }

    /// The daemon's view of the receiver as `panicd gnss watch --live` prints it, once a second. It has the
    /// position: the socket is readable only by root and group `panicd` (the technician's terminal).
    public struct GNSSReport: Codable, Sendable, Equatable {
        public var current: Bool
        public var latitude: Double?
        public var longitude: Double?
        public var ageSeconds: Double?
        public var mode: String?
        public var satellites: Int?
        public var hdop: Double?
        public var speed: Double?
        public var chunksDecoded: Int
        /// Where the box takes its wall time from (`gnss` or `system`).
        public var timeSource: String
    }
}

/// What a client asks for: the first line it writes on the socket. The socket has no request that changes
/// anything.
public enum StatusRequest: String, Sendable, CaseIterable {
    /// One status, then the connection closes.
    case status
    /// A status now and on every change.
    case watch
    /// Every classified input event as it happens.
    case inputs
    /// The GNSS report once a second.
    case gnss
}
