import Foundation
import PanicCore

/// The police case an alert belongs to: its FIR (First Information Report) and GD (General Diary) numbers. Kept
/// only as `case-numbers` lines of the alert's append-only audit log (who entered them, when): the newest line
/// holds the numbers in force, so every change stays on record.
public struct CaseNumbers: Sendable, Hashable, Codable {
    public var fir: String
    public var gd: String

    public init(fir: String, gd: String) {
        self.fir = fir
        self.gd = gd
    }

    /// The most characters of each number.
    public static let maximumLength = 64

    /// Checks and trims the numbers: letters, digits, space and `/ - . ,` only (FIR numbers look like
    /// `0123/2026`, `PS Connaught Place 0123/2026`), at most 64 characters each, at least one of the two given.
    public static func validated(fir: String?, gd: String?) throws(DeskError) -> CaseNumbers {
        func clean(_ text: String?, _ name: String) throws(DeskError) -> String {
            let text = (text ?? "").trimmingCharacters(in: .whitespaces)
            guard text.count <= maximumLength else {
                throw DeskError.badRequest("the \(name) number is longer than \(maximumLength) characters")
            }
            guard
                text.unicodeScalars.allSatisfy({
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || " /-.,".unicodeScalars.contains($0))
                })
            else {
                throw DeskError.badRequest(
                    "the \(name) number may hold only letters, digits, spaces and / - . , (got '\(SafeText.escaped(text))')"
                )
            }
            return text
        }
        let numbers = CaseNumbers(fir: try clean(fir, "FIR"), gd: try clean(gd, "GD"))
        guard !numbers.fir.isEmpty || !numbers.gd.isEmpty else {
            throw DeskError.badRequest("give an FIR number, a GD number, or both")
        }
        return numbers
    }

    /// The audit line's `reason`: the numbers as JSON with sorted keys.
    public var auditReason: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The numbers in force: those of the newest `case-numbers` line among `audit` (nil when there is none).
    public static func current(_ audit: [AuditEntry]) -> CaseNumbers? {
        audit.last { $0.action == .caseNumbers }.flatMap {
            try? JSONDecoder().decode(CaseNumbers.self, from: Data($0.reason.utf8))
        }
    }
}

extension ControlRoom {
    /// Records the alert's FIR / GD numbers (an audit line of the alert, by `actor`).
    public func setCaseNumbers(
        device: String, alert: String, fir: String?, gd: String?, by actor: AuditActor
    ) async throws -> CaseNumbers {
        let numbers = try CaseNumbers.validated(fir: fir, gd: gd)
        try await store.appendAudit(
            NewAuditEntry(
                action: .caseNumbers, actor: actor, device: device, alert: alert, reason: numbers.auditReason,
                now: wallClock()),
            requireAlert: true)
        changes.publish(ControlRoomChange([.audit]))
        return numbers
    }
}
