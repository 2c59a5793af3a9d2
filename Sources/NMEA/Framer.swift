/// What the framer hands on: a checked sentence, or a rejection with its reason.
public enum NMEAFrame {
    /// A sentence whose checksum (if any) matched: the bytes after `$`/`!` up to, not including, `*`.
    /// The buffer is only valid during the callback; `line` is the 1-based line it ended on.
    case sentence(UnsafeRawBufferPointer, line: Int)
    /// Something that looked like a sentence and was dropped.
    case rejected(NMEARejection)
}

/// Splits a byte stream into NMEA 0183 sentences and checks their checksums, in any chunking.
///
/// Sentences may be split across reads; lines may end in CR, LF, CRLF or CRCRLF; binary protocol bytes
/// (UBX, SiRF) may sit between sentences; a doubled `$$` starts one sentence; two sentences may run
/// together on one line. A line longer than `maxLength` is dropped (and counted) up to the next line end,
/// so the buffer never grows past that bound. The framer never parses fields: that is `NMEAParser`'s job.
public struct NMEAFramer: Sendable {
    /// How strict the framer is.
    public struct Options: Sendable, Equatable {
        /// The longest line kept, start character included (NMEA says 82; real receivers go past it).
        public var maxLength: Int
        /// Whether a sentence without a `*HH` checksum is dropped (the default) or passed on.
        public var requireChecksum: Bool

        public init(maxLength: Int = 256, requireChecksum: Bool = true) {
            self.maxLength = max(8, maxLength)
            self.requireChecksum = requireChecksum
        }
    }

    private enum State: Sendable { case idle, inSentence, discarding }

    /// The options this framer was made with.
    public let options: Options
    /// Bytes outside any sentence, plus the excess of over-long or damaged lines.
    public private(set) var skippedBytes = 0
    /// The 1-based line the framer is on (counted by LF, or by CR not followed by LF).
    public private(set) var line = 1

    private var state = State.idle
    // The part of a sentence that started in an earlier chunk; reused, never grows past maxLength.
    private var carry: [UInt8]
    private var length = 0
    private var lastWasCR = false
    // The XOR of every byte of the current sentence after its start character, taken eight at a time as the
    // fast path reads them (folded to one byte at the end): the checksum costs no second pass.
    private var runningXOR: UInt64 = 0

    public init(options: Options = Options()) {
        self.options = options
        carry = []
        carry.reserveCapacity(options.maxLength)
    }

    /// A framer with no storage, to swap in while the real one is borrowed (an empty array never allocates).
    init(placeholder: Void) {
        options = Options()
        carry = []
    }

    /// Feeds a chunk of bytes, calling `emit` for every sentence completed and every rejection.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer, _ emit: (NMEAFrame) -> Void) {
        guard let base = chunk.baseAddress else { return }
        let count = chunk.count
        let bytes = base.assumingMemoryBound(to: UInt8.self)
        // Where the current sentence starts in this chunk; -1 when it started in an earlier one (in `carry`).
        var start = state == .inSentence ? -1 : 0
        var index = 0
        while index < count {
            let byte = bytes[index]
            switch state {
            case .idle:
                if byte == ascii.dollar || byte == ascii.bang {
                    begin(at: index, &start)
                } else {
                    noteLineEnd(byte)
                    if byte != ascii.cr && byte != ascii.lf { skippedBytes &+= 1 }
                }
            case .discarding:
                if byte == ascii.dollar || byte == ascii.bang {
                    begin(at: index, &start)
                } else if byte == ascii.cr || byte == ascii.lf {
                    noteLineEnd(byte)
                    state = .idle
                } else {
                    skippedBytes &+= 1
                }
            case .inSentence:
                // Fast path: run over the ordinary printable bytes of the sentence, eight at a time while no
                // byte of the word needs a look (a control or non-ASCII byte, `$`, `!`), then one at a time.
                var end = index
                var xor = runningXOR
                while end &+ 8 <= count {
                    let word = SWAR.load(bytes + end)
                    if SWAR.needsLook(word) { break }
                    xor ^= word
                    end &+= 8
                }
                while end < count {
                    let next = bytes[end]
                    if next &- 0x20 >= 0x5F || next == ascii.dollar || next == ascii.bang { break }
                    xor ^= UInt64(next)
                    end &+= 1
                }
                runningXOR = xor
                if end > index {
                    length &+= end &- index
                    if length > options.maxLength {
                        carry.removeAll(keepingCapacity: true)
                        skippedBytes &+= length
                        emit(.rejected(NMEARejection(reason: .tooLong, line: line)))
                        state = .discarding
                    }
                    index = end
                    continue
                }
                if byte == ascii.cr || byte == ascii.lf {
                    finish(bytes, start, index, emit)
                    noteLineEnd(byte)
                    state = .idle
                } else if byte == ascii.dollar || byte == ascii.bang {
                    if length == 1 {
                        // `$$`: a doubled start character (ST Teseo); the sentence starts again here.
                        begin(at: index, &start)
                    } else {
                        let complete = withCurrent(bytes, start, index) { Self.hasTrailer($0) }
                        if complete {
                            finish(bytes, start, index, emit)
                        } else {
                            carry.removeAll(keepingCapacity: true)
                            emit(.rejected(NMEARejection(reason: .interrupted, line: line)))
                        }
                        begin(at: index, &start)
                    }
                } else if byte < 0x20 || byte >= 0x7F {
                    carry.removeAll(keepingCapacity: true)
                    skippedBytes &+= length + 1
                    emit(.rejected(NMEARejection(reason: .invalidCharacter, line: line)))
                    state = .discarding
                } else {
                    length &+= 1
                    runningXOR ^= UInt64(byte)
                    if length > options.maxLength {
                        carry.removeAll(keepingCapacity: true)
                        skippedBytes &+= length
                        emit(.rejected(NMEARejection(reason: .tooLong, line: line)))
                        state = .discarding
                    }
                }
            }
            index &+= 1
        }
        if state == .inSentence {
            let from = max(start, 0)
            carry.append(contentsOf: UnsafeBufferPointer(start: bytes + from, count: count - from))
        }
    }

    /// Ends the stream: a sentence still open (no line end after it) is finished as if a line end came.
    public mutating func finish(_ emit: (NMEAFrame) -> Void) {
        guard state == .inSentence else {
            state = .idle
            return
        }
        let line = self.line
        let requireChecksum = options.requireChecksum
        let xor = SWAR.fold(runningXOR)
        carry.withUnsafeBufferPointer { Self.check($0, line, requireChecksum, xor: xor, emit) }
        carry.removeAll(keepingCapacity: true)
        state = .idle
    }

    private mutating func begin(at index: Int, _ start: inout Int) {
        if !carry.isEmpty { carry.removeAll(keepingCapacity: true) }
        state = .inSentence
        start = index
        length = 1
        runningXOR = 0
    }

    private mutating func noteLineEnd(_ byte: UInt8) {
        if byte == ascii.lf {
            if !lastWasCR { line &+= 1 }
            lastWasCR = false
        } else if byte == ascii.cr {
            line &+= 1
            lastWasCR = true
        } else {
            lastWasCR = false
        }
    }

    /// Calls `body` with the current sentence (start character included) up to, not including, `end`.
    private func withCurrent<R>(
        _ bytes: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R
    ) -> R {
        if start >= 0 {
            return body(UnsafeBufferPointer(start: bytes + start, count: end - start))
        }
        var joined = carry
        joined.append(contentsOf: UnsafeBufferPointer(start: bytes, count: end))
        return joined.withUnsafeBufferPointer(body)
    }

    private mutating func finish(
        _ bytes: UnsafePointer<UInt8>, _ start: Int, _ end: Int, _ emit: (NMEAFrame) -> Void
    ) {
        let line = self.line
        let requireChecksum = options.requireChecksum
        let xor = SWAR.fold(runningXOR)
        if start >= 0 {
            Self.check(
                UnsafeBufferPointer(start: bytes + start, count: end - start), line, requireChecksum, xor: xor, emit)
        } else {
            carry.append(contentsOf: UnsafeBufferPointer(start: bytes, count: end))
            carry.withUnsafeBufferPointer { Self.check($0, line, requireChecksum, xor: xor, emit) }
            carry.removeAll(keepingCapacity: true)
        }
    }

    /// Whether `sentence` ends in `*HH`, i.e. it is complete even though no line end followed it.
    static func hasTrailer(_ sentence: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = sentence.count
        return count >= 4 && sentence[count - 3] == ascii.star && hexValue(sentence[count - 2]) != nil
            && hexValue(sentence[count - 1]) != nil
    }

    /// Checks one whole sentence (start character first) and emits it or its rejection. `xor` is the XOR of every
    /// byte after the start character (the framer's running XOR), so only the `*HH` trailer is taken back out.
    static func check(
        _ sentence: UnsafeBufferPointer<UInt8>, _ line: Int, _ requireChecksum: Bool, xor: UInt8,
        _ emit: (NMEAFrame) -> Void
    ) {
        let count = sentence.count
        var star = count - 1
        while star > 0 && sentence[star] != ascii.star { star -= 1 }
        let bodyEnd: Int
        if star > 0 {
            guard count - star == 3, let high = hexValue(sentence[star + 1]), let low = hexValue(sentence[star + 2])
            else {
                emit(.rejected(NMEARejection(reason: .malformedChecksum, line: line)))
                return
            }
            let sum = xor ^ ascii.star ^ sentence[star + 1] ^ sentence[star + 2]
            guard sum == high << 4 | low else {
                emit(.rejected(NMEARejection(reason: .badChecksum, line: line)))
                return
            }
            bodyEnd = star
        } else {
            guard !requireChecksum else {
                emit(.rejected(NMEARejection(reason: count <= 1 ? .empty : .missingChecksum, line: line)))
                return
            }
            bodyEnd = count
        }
        guard bodyEnd > 1 else {
            emit(.rejected(NMEARejection(reason: .empty, line: line)))
            return
        }
        emit(.sentence(UnsafeRawBufferPointer(start: sentence.baseAddress! + 1, count: bodyEnd - 1), line: line))
    }
}

/// The value of an ASCII hex digit in either case.
@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
}

/// The ASCII bytes the framer and parser look for.
enum ascii {
    static let dollar: UInt8 = 0x24
    static let bang: UInt8 = 0x21
    static let star: UInt8 = 0x2A
    static let comma: UInt8 = 0x2C
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let dot: UInt8 = 0x2E
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let zero: UInt8 = 0x30
}

/// Eight bytes at a time ("SIMD within a register"), for the framer's and parser's scans over a sentence.
/// Every mask is exact per byte (no borrow runs from one byte into the next), so a bit names its byte.
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080
    static let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F

    /// The eight bytes at `pointer` (any alignment), the first byte in the low bits on every host.
    @inline(__always)
    static func load(_ pointer: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(pointer).loadUnaligned(as: UInt64.self))
    }

    /// The high bit of every byte of `word` that equals `byte`'s, and nothing else.
    @inline(__always)
    static func equal(_ word: UInt64, _ byte: UInt8) -> UInt64 {
        let difference = word ^ (ones &* UInt64(byte))
        return ~(((difference & lows) &+ lows) | difference) & highs
    }

    /// Whether any byte of `word` may need a look from the byte loop: a control byte, DEL or non-ASCII (outside
    /// 0x20...0x7E), `!` (0x21) or `$` (0x24). Conservative in one place: a space, `"` or `#` (0x20, 0x22, 0x23)
    /// is flagged too (all below 0x25), which only sends that word to the byte loop.
    @inline(__always)
    static func needsLook(_ word: UInt64) -> Bool {
        // Below 0x25: adding 0x5B leaves the high bit clear; 0x7F and up: adding 1 or the byte itself sets it.
        let low = ~((word & lows) &+ (ones &* 0x5B)) & ~word
        let high = ((word & lows) &+ ones) | word
        return (low | high) & highs != 0
    }

    /// The XOR of the eight bytes of `word`, in its low byte.
    @inline(__always)
    static func fold(_ word: UInt64) -> UInt8 {
        var folded = word ^ (word >> 32)
        folded ^= folded >> 16
        folded ^= folded >> 8
        return UInt8(truncatingIfNeeded: folded)
    }
}
