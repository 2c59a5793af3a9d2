/// Why a sentence (or a run of bytes) was dropped instead of reaching the fix tracker.
public enum NMEARejectionReason: Int, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The line grew past the framer's bound; the excess up to the next line end was dropped.
    case tooLong
    /// The two hex digits after `*` do not match the XOR of the bytes between `$`/`!` and `*`.
    case badChecksum
    /// No `*HH` trailer, and the framer was told to require one.
    case missingChecksum
    /// A `*` followed by something other than exactly two hex digits.
    case malformedChecksum
    /// A control or non-ASCII byte (binary protocol traffic such as UBX or SiRF) inside a sentence.
    case invalidCharacter
    /// A new `$`/`!` started before the line ended, and what came before was not a complete sentence.
    case interrupted
    /// Nothing, or no address, between the start character and the line end.
    case empty
    /// The address field is not a two-letter talker and a three-letter sentence type.
    case badAddress
    /// A sentence type this parser does not decode (counted, never an error).
    case unsupported
    /// A proprietary `$P…` sentence, recognised and ignored.
    case proprietary
    /// Fewer fields than the sentence type requires.
    case tooFewFields
    /// A field that should hold a number, time, date or flag holds something else.
    case badField

    /// The name used in statistics output.
    public var description: String {
        switch self {
        case .tooLong: "too-long"
        case .badChecksum: "bad-checksum"
        case .missingChecksum: "missing-checksum"
        case .malformedChecksum: "malformed-checksum"
        case .invalidCharacter: "invalid-character"
        case .interrupted: "interrupted"
        case .empty: "empty"
        case .badAddress: "bad-address"
        case .unsupported: "unsupported"
        case .proprietary: "proprietary"
        case .tooFewFields: "too-few-fields"
        case .badField: "bad-field"
        }
    }

    /// Whether the sentence was merely ignored (recognised but not used) rather than damaged.
    public var isIgnoredOnly: Bool { self == .unsupported || self == .proprietary }
}

/// One dropped sentence: why, where in the stream, and which field when a field was at fault.
public struct NMEARejection: Sendable, Hashable, CustomStringConvertible {
    /// Why it was dropped.
    public var reason: NMEARejectionReason
    /// The 1-based line of the stream it was on (lines end at CR or LF).
    public var line: Int
    /// The 0-based field index (0 is the address) for `tooFewFields` and `badField`.
    public var field: Int?

    public init(reason: NMEARejectionReason, line: Int, field: Int? = nil) {
        self.reason = reason
        self.line = line
        self.field = field
    }

    public var description: String {
        if let field { return "line \(line): \(reason) (field \(field))" }
        return "line \(line): \(reason)"
    }
}

/// Counts of sentences accepted and dropped by reason, kept without allocating per sentence.
public struct NMEAStatistics: Sendable, Equatable {
    /// Sentences that passed framing and parsing and reached the tracker.
    public var accepted = 0
    /// Bytes outside any sentence (binary traffic, comments, noise between sentences).
    public var skippedBytes = 0
    private var counts = [Int](repeating: 0, count: NMEARejectionReason.allCases.count)

    public init() {}

    /// How many sentences were dropped for `reason`.
    public subscript(reason: NMEARejectionReason) -> Int {
        get { counts[reason.rawValue] }
        set { counts[reason.rawValue] = newValue }
    }

    /// Every dropped sentence, ignored ones included.
    public var rejected: Int { counts.reduce(0, +) }

    /// Adds one rejection.
    public mutating func count(_ reason: NMEARejectionReason) { counts[reason.rawValue] &+= 1 }

    /// A line per counter, `accepted` first, then each reason with a non-zero count.
    public var report: String {
        var lines = ["accepted \(accepted)"]
        for reason in NMEARejectionReason.allCases where self[reason] > 0 {
            lines.append("\(reason.isIgnoredOnly ? "ignored" : "rejected") \(reason) \(self[reason])")
        }
        lines.append("skipped-bytes \(skippedBytes)")
        return lines.joined(separator: "\n")
    }
}
