/// What parsing one framed sentence gave.
public enum NMEAParseResult: Sendable {
    /// A decoded sentence.
    case sentence(NMEASentence)
    /// Dropped or ignored, with the reason and (for field errors) the field index.
    case rejected(NMEARejectionReason, field: Int?)
}

/// Decodes framed sentence bodies (`GPGGA,…` without `$` and `*HH`) through the table of sentence types.
///
/// Fields are byte ranges into the caller's buffer; numbers are parsed by hand from ASCII; the field table lives
/// on the stack for the one call, so parsing allocates nothing and the parser holds no storage.
public struct NMEAParser: Sendable {
    /// The most fields a sentence may have; more is `tooFewFields`' opposite and rejected as `badField`.
    public static let maximumFields = 64

    public init() {}

    /// Parses one sentence body.
    public mutating func parse(_ body: UnsafeRawBufferPointer) -> NMEAParseResult {
        guard let base = body.baseAddress, body.count > 0 else { return .rejected(.empty, field: nil) }
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        let length = body.count
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.maximumFields) { ends -> NMEAParseResult in
            var count = 0
            var index = 0
            // Eight bytes at a time: one bit per comma in the word, taken lowest first.
            while index &+ 8 <= length {
                var commas = SWAR.equal(SWAR.load(bytes + index), ascii.comma)
                while commas != 0 {
                    guard count < Self.maximumFields - 1 else { return .rejected(.badField, field: count) }
                    ends[count] = index &+ commas.trailingZeroBitCount &>> 3
                    count &+= 1
                    commas &= commas &- 1
                }
                index &+= 8
            }
            while index < length {
                if bytes[index] == ascii.comma {
                    guard count < Self.maximumFields - 1 else { return .rejected(.badField, field: count) }
                    ends[count] = index
                    count &+= 1
                }
                index &+= 1
            }
            ends[count] = length
            count += 1
            let fields = NMEAFields(bytes: bytes, ends: UnsafePointer(ends.baseAddress!), count: count)
            return Self.decode(fields)
        }
    }

    private static func decode(_ fields: NMEAFields) -> NMEAParseResult {
        let address = fields.bytes(0)
        guard address.count >= 2 else { return .rejected(.badAddress, field: 0) }
        for byte in address where !(0x41...0x5A).contains(byte) && !(0x30...0x39).contains(byte) {
            return .rejected(.badAddress, field: 0)
        }
        let isProprietary = address[0] == 0x50  // P
        guard address.count == 5 else {
            return .rejected(isProprietary ? .proprietary : .badAddress, field: isProprietary ? nil : 0)
        }
        let name = (address[2], address[3], address[4])
        guard let type = SentenceType(name: name) else {
            return .rejected(isProprietary ? .proprietary : .unsupported, field: nil)
        }
        // `$P…` is proprietary, except Quectel's `PQ` talker on standard sentences (QZSS in GSA/GSV).
        if isProprietary && address[1] != 0x51 { return .rejected(.proprietary, field: nil) }
        guard fields.count >= type.minimumFields else { return .rejected(.tooFewFields, field: fields.count) }
        do {
            let body = try type.decode(fields)
            return .sentence(NMEASentence(talker: NMEATalker(address[0], address[1]), body: body))
        } catch {
            return .rejected(.badField, field: error.field)
        }
    }

    /// The text of a TXT sentence, read from the same body it was parsed from.
    public static func text(of txt: TXT, in body: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: body[txt.textRange]), as: UTF8.self)
    }
}
