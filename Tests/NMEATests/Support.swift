import Foundation
import NMEA
import PanicCore
import Testing

/// What decoding a byte string gave: the epochs, the statistics and every rejection.
struct Decoded {
    var fixes: [GNSSFix] = []
    var statistics = NMEAStatistics()
    var rejections: [NMEARejection] = []
}

/// Decodes `text` fed in chunks of `chunkSize` bytes (the whole at once when nil).
func decode(
    _ bytes: [UInt8], chunkSize: Int? = nil, framing: NMEAFramer.Options = .init(),
    tracking: FixTracker.Options = .init()
) -> Decoded {
    var result = Decoded()
    var decoder = NMEADecoder(framing: framing, tracking: tracking)
    let size = max(1, chunkSize ?? bytes.count)
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + size)
        decoder.feed(Array(bytes[start..<end]), at: .zero, rejected: { result.rejections.append($0) }) {
            result.fixes.append($0)
        }
        start = end
    }
    decoder.finish(at: .zero, rejected: { result.rejections.append($0) }) { result.fixes.append($0) }
    result.statistics = decoder.statistics
    return result
}

func decode(_ text: String, chunkSize: Int? = nil, framing: NMEAFramer.Options = .init()) -> Decoded {
    decode(Array(text.utf8), chunkSize: chunkSize, framing: framing)
}

/// Frames `bytes`, returning the sentence bodies as strings and the rejection reasons.
func frame(
    _ bytes: [UInt8], options: NMEAFramer.Options = .init(), chunkSize: Int? = nil
) -> (
    sentences: [String], rejected: [NMEARejectionReason]
) {
    var framer = NMEAFramer(options: options)
    var sentences: [String] = []
    var rejected: [NMEARejectionReason] = []
    let handler: (NMEAFrame) -> Void = { frame in
        switch frame {
        case .sentence(let body, _): sentences.append(String(decoding: body, as: UTF8.self))
        case .rejected(let rejection): rejected.append(rejection.reason)
        }
    }
    let size = max(1, chunkSize ?? bytes.count)
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + size)
        Array(bytes[start..<end]).withUnsafeBytes { framer.feed($0, handler) }
        start = end
    }
    framer.finish(handler)
    return (sentences, rejected)
}

func frame(
    _ text: String, options: NMEAFramer.Options = .init(), chunkSize: Int? = nil
) -> (
    sentences: [String], rejected: [NMEARejectionReason]
) {
    frame(Array(text.utf8), options: options, chunkSize: chunkSize)
}

/// Parses one sentence body (`GPGGA,…` without `$` and `*HH`).
func parse(_ body: String) -> NMEAParseResult {
    var parser = NMEAParser()
    return Array(body.utf8).withUnsafeBytes { parser.parse($0) }
}

/// Adds `$`, the checksum and CRLF to a sentence body.
func sentence(_ body: String) -> String {
    let sum = body.utf8.reduce(UInt8(0), ^)
    let hex = String(sum, radix: 16, uppercase: true)
    return "$\(body)*\(sum < 16 ? "0" : "")\(hex)\r\n"
}

/// A fixture file's bytes.
func fixture(_ name: String) throws -> [UInt8] {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
    return Array(try Data(contentsOf: url))
}
