/// A Debian package version (`[epoch:]upstream[-revision]`), ordered as `dpkg --compare-versions` orders them
/// (deb-version(7)): the one comparison of versions for updates, floors and rollbacks.
public struct DebianVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let epoch: Int
    public let upstream: String
    public let revision: String
    /// The text it was parsed from.
    public let description: String

    /// Parses `text`; nil when it is not a version dpkg would take (empty, a non-numeric epoch, an upstream part
    /// not starting with a digit, characters outside the allowed set).
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= 128 else { return nil }
        var rest = Substring(text)
        if let colon = rest.firstIndex(of: ":") {
            guard let epoch = Int(rest[..<colon]), epoch >= 0 else { return nil }
            self.epoch = epoch
            rest = rest[rest.index(after: colon)...]
        } else {
            epoch = 0
        }
        if let dash = rest.lastIndex(of: "-") {
            revision = String(rest[rest.index(after: dash)...])
            upstream = String(rest[..<dash])
            guard !revision.isEmpty else { return nil }
        } else {
            revision = ""
            upstream = String(rest)
        }
        guard let first = upstream.unicodeScalars.first, ("0"..."9").contains(first) else { return nil }
        let allowed = { (scalar: Unicode.Scalar) -> Bool in
            scalar.properties.isASCIIHexDigit || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                || ".+~-:".unicodeScalars.contains(scalar)
        }
        guard upstream.unicodeScalars.allSatisfy(allowed),
            revision.unicodeScalars.allSatisfy({ allowed($0) && $0 != "-" && $0 != ":" })
        else { return nil }
        description = text
    }

    public static func < (left: DebianVersion, right: DebianVersion) -> Bool { compare(left, right) < 0 }

    public static func == (left: DebianVersion, right: DebianVersion) -> Bool { compare(left, right) == 0 }

    public func hash(into hasher: inout Hasher) {
        // Only the epoch: versions equal under `compare` ("1.0" and "1.00") must hash alike.
        hasher.combine(epoch)
    }

    static func compare(_ left: DebianVersion, _ right: DebianVersion) -> Int {
        if left.epoch != right.epoch { return left.epoch < right.epoch ? -1 : 1 }
        let upstream = compare(part: Array(left.upstream.utf8), Array(right.upstream.utf8))
        return upstream != 0 ? upstream : compare(part: Array(left.revision.utf8), Array(right.revision.utf8))
    }

    /// dpkg's `verrevcmp`: alternating runs of non-digits (letters before non-letters, `~` before everything,
    /// even the end) and digits (numerically).
    static func compare(part left: [UInt8], _ right: [UInt8]) -> Int {
        func order(_ byte: UInt8?) -> Int {
            guard let byte else { return 0 }
            if byte == UInt8(ascii: "~") { return -1 }
            if (48...57).contains(byte) { return 0 }
            if (65...90).contains(byte) || (97...122).contains(byte) { return Int(byte) }
            return Int(byte) + 256
        }
        func isDigit(_ byte: UInt8) -> Bool { (48...57).contains(byte) }
        var (i, j) = (0, 0)
        while i < left.count || j < right.count {
            var firstDifference = 0
            while (i < left.count && !isDigit(left[i])) || (j < right.count && !isDigit(right[j])) {
                let a = order(i < left.count ? left[i] : nil)
                let b = order(j < right.count ? right[j] : nil)
                if a != b { return a < b ? -1 : 1 }
                i += 1
                j += 1
            }
            while i < left.count, left[i] == UInt8(ascii: "0") { i += 1 }
            while j < right.count, right[j] == UInt8(ascii: "0") { j += 1 }
            while i < left.count, isDigit(left[i]), j < right.count, isDigit(right[j]) {
                if firstDifference == 0 { firstDifference = Int(left[i]) - Int(right[j]) }
                i += 1
                j += 1
            }
            if i < left.count, isDigit(left[i]) { return 1 }
            if j < right.count, isDigit(right[j]) { return -1 }
            if firstDifference != 0 { return firstDifference < 0 ? -1 : 1 }
        }
        return 0
    }
}
