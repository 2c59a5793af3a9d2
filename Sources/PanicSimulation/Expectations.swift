import Foundation
import PanicConfig
import PanicCore

/// Grades a scenario's expectations against what a run observed. Pure: no clock, no I/O.
public enum Expectations {
    /// What a run saw, as the expectations need it.
    public struct Observed: Sendable {
        /// Milestones in the order they happened, with the elapsed time of each.
        public var milestones: [(Scenario.Milestone, Duration)]
        /// What the LED showed last.
        public var indicator: IndicatorState?
        public var lost: Int
        public var duplicates: Int
        public var deliveredByKind: [RecordKind: Int]
        /// Emergency and help alerts the box stored, and those that reached the operator, by record id.
        public var alertsStored: Set<String>
        public var alertsArrived: Set<String>
        /// Each AIS-140 reference receiver's connections and answered logins, by backend name.
        public var ais140Sessions: [(backend: String, connections: Int, logins: Int)] = []
        /// Network outages plus power cuts of the box: the events that may break an AIS-140 session.
        public var sessionBreaks = 0

        public init(
            milestones: [(Scenario.Milestone, Duration)], indicator: IndicatorState?, lost: Int, duplicates: Int,
            deliveredByKind: [RecordKind: Int], alertsStored: Set<String> = [], alertsArrived: Set<String> = []
        ) {
            self.alertsStored = alertsStored
            self.alertsArrived = alertsArrived
            self.milestones = milestones
            self.indicator = indicator
            self.lost = lost
            self.duplicates = duplicates
            self.deliveredByKind = deliveredByKind
        }
    }

    /// Each expectation as a line of the report, and whether it held.
    public static func grade(
        _ expectations: [Scenario.Expectation], _ seen: Observed
    ) -> [(text: String, held: Bool)] {
        expectations.map { expectation in
            switch expectation {
            case .within(let milestone, let within, let after):
                // Every occurrence of `after` must be followed by `milestone` within `within`.
                let references = seen.milestones.filter { $0.0 == after }.map(\.1)
                var held = !references.isEmpty
                var details: [String] = references.isEmpty ? ["no \(after.rawValue)"] : []
                for from in references {
                    if let hit = seen.milestones.first(where: { $0.0 == milestone && $0.1 >= from }) {
                        let took = hit.1 - from
                        held = held && took <= within
                        details.append("took \(seconds(took))")
                    } else {
                        held = false
                        details.append("never happened")
                    }
                }
                return (
                    "\(milestone.rawValue) within \(seconds(within)) of every \(after.rawValue): "
                        + details.joined(separator: ", "), held
                )
            case .finalIndicator(let state):
                return (
                    "LED ends as \(state): it is \(seen.indicator?.rawValue ?? "unknown")",
                    seen.indicator?.rawValue == state
                )
            case .lost(let count):
                return ("lost = \(count): \(seen.lost)", seen.lost == count)
            case .duplicates(let count):
                return ("duplicates = \(count): \(seen.duplicates)", seen.duplicates == count)
            case .delivered(let kind, let atLeast):
                let count = seen.deliveredByKind[kind, default: 0]
                return ("at least \(atLeast) \(kind.rawValue) delivered: \(count)", count >= atLeast)
            case .alertsReachOperator:
                let presses = seen.milestones.filter { $0.0 == .press }.count
                let missing = seen.alertsStored.subtracting(seen.alertsArrived)
                return (
                    "every alert the presses raised reaches the operator: \(seen.alertsStored.count - missing.count) "
                        + "of \(seen.alertsStored.count) alerts (by id) from \(presses) presses"
                        + (missing.isEmpty ? "" : "; missing \(missing.sorted().joined(separator: ", "))"),
                    presses > 0 && !seen.alertsStored.isEmpty && missing.isEmpty
                )
            case .ais140LoginsPerSession:
                let most = 1 + seen.sessionBreaks
                let held =
                    !seen.ais140Sessions.isEmpty
                    && seen.ais140Sessions.allSatisfy { $0.logins == $0.connections && $0.connections <= most }
                let each = seen.ais140Sessions.map {
                    "\($0.backend) \($0.connections) connections, \($0.logins) logins"
                }
                return (
                    "one AIS-140 login per connection, at most \(most) connections (1 + \(seen.sessionBreaks) outages "
                        + "and power cuts): " + (each.isEmpty ? "no AIS-140 receiver" : each.joined(separator: "; ")),
                    held
                )
            }
        }
    }

    /// `12 s`, `2.5 s`.
    public static func seconds(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms % 1000 == 0 ? "\(ms / 1000) s" : String(format: "%.1f s", Double(ms) / 1000)
    }
}
