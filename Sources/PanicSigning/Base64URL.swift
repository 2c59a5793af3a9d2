import Foundation

/// Base64url without padding (RFC 4648 §5), as JOSE uses it. Byte-level: the control room decodes three of these
/// per envelope, thousands of envelopes a second, so no string replacing or padding on the way.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// The value of each byte of the alphabet; 0xFF for any other byte.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes.
    public static func encode<D: DataProtocol>(_ bytes: D) -> String {
        let input = Array(bytes)
        var output = [UInt8]()
        output.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(alphabet[Int(value >> 6 & 63)])
            output.append(alphabet[Int(value & 63)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let value = UInt32(input[index]) << 16
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
        case 2:
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(alphabet[Int(value >> 6 & 63)])
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes text; nil when it holds characters outside the base64url alphabet or padding, or its length leaves
    /// a single character over (no whole byte). Like Foundation's decoder, unused low bits of the last character
    /// are ignored.
    public static func decode(_ text: some StringProtocol) -> Data? {
        var result: Data?
        var utf8 = Array(text.utf8)
        utf8.withUnsafeMutableBufferPointer { input in
            if input.count % 4 == 1 { return }
            var output = Data(count: input.count * 3 / 4)
            let ok = output.withUnsafeMutableBytes { raw -> Bool in
                let out = raw.bindMemory(to: UInt8.self)
                var written = 0
                var accumulator: UInt32 = 0
                var bits = 0
                for byte in input {
                    let value = values[Int(byte)]
                    if value == 0xFF { return false }
                    accumulator = accumulator << 6 | UInt32(value)
                    bits += 6
                    if bits >= 8 {
                        bits -= 8
                        out[written] = UInt8(truncatingIfNeeded: accumulator >> UInt32(bits))
                        written += 1
                        accumulator &= (1 << UInt32(bits)) - 1
                    }
                }
                return written == out.count
            }
            if ok { result = output }
        }
        return result
    }
}
