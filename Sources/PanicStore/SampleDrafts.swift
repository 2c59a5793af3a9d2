import Foundation
import PanicCore

/// Synthetic drafts for the crash test, the benchmark and examples: a bus moving along a line through
/// Bengaluru with an occasional alert. Not real data.
public enum SampleDrafts {
    /// The `index`-th draft: mostly positions, an emergency every 17th, a tamper every 29th, a health every 50th.
    public static func draft(_ index: Int, time: RecordTime? = nil) -> RecordDraft {
        let now = time ?? RecordTime(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        let fix = RecordFix(
            latitude: 12.9716 + Double(index % 1000) * 0.0001, longitude: 77.5946 + Double(index % 700) * 0.0001,
            altitude: 920, speed: 32.5, course: 87, mode: .threeD, hdop: 0.9, satellites: 11, fixTime: now,
            ageMilliseconds: 350)
        let body: RecordBody =
            switch index {
            case _ where index % 50 == 0: .health(HealthReport(queueDepth: index % 13))
            case _ where index % 29 == 0: .tamper(reason: .wireCut, input: "panic-rear")
            case _ where index % 17 == 0: .emergency(input: "panic-front")
            default: .position
            }
        return RecordDraft(id: UUID().uuidString.lowercased(), time: now, timeSource: .gnss, fix: fix, body: body)
    }
}
