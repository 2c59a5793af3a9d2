import Foundation
import PanicSigning
import Testing

@Suite("Base64URL: the same bytes as Foundation's base64 decoder, without padding")
struct Base64URLTests {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    /// Foundation's reading of a base64url text: translated to base64 and padded.
    static func reference(_ text: String) -> Data? {
        let base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return Data(base64Encoded: base64 + String(repeating: "=", count: (4 - base64.count % 4) % 4))
    }

    @Test("every length 0-70 round-trips, and decodes as Foundation decodes the padded base64")
    func roundTrip() {
        var random = SystemRandomNumberGenerator()
        for length in 0...70 {
            let bytes = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &random) })
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
            #expect(Base64URL.decode(text[...]) == bytes)  // a Substring, as the envelope parser passes
            #expect(Self.reference(text) == bytes)
        }
    }

    @Test(
        "2,000 random texts of the alphabet: Foundation's bytes (unused low bits ignored), nil for a lone last character"
    )
    func alphabetTexts() {
        var seed: UInt64 = 1_090
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        for _ in 0..<2_000 {
            let text = String((0..<next(40)).map { _ in Self.alphabet[next(Self.alphabet.count)] })
            if text.count % 4 == 1 {
                #expect(Base64URL.decode(text) == nil, "\(text)")
            } else {
                #expect(Base64URL.decode(text) == Self.reference(text), "\(text)")
            }
        }
    }

    @Test("a character outside the alphabet anywhere, padding or base64's own + and /, is refused")
    func refused() {
        let good = "SGVsbG8sIHdvcmxkIQ"
        for bad in ["=", "+", "/", " ", "\n", ".", "é", "\u{0}"] {
            for at in [0, 3, 4, 7, good.count] {
                var text = good
                text.insert(contentsOf: bad, at: text.index(text.startIndex, offsetBy: at))
                #expect(Base64URL.decode(text) == nil, "\(text.debugDescription)")
            }
        }
        #expect(Base64URL.decode(good) == Data("Hello, world!".utf8))
    }
}
