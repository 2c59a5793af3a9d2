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
        if let result = text.utf8.withContiguousStorageIfAvailable({ decode(bytes: $0) }) { return result }
        return Array(text.utf8).withUnsafeBufferPointer { decode(bytes: $0) }
    }

    /// `decode(_:)` over the text's UTF-8 bytes, four characters (three bytes) at a time.
    static func decode(bytes input: UnsafeBufferPointer<UInt8>) -> Data? {
        if input.count % 4 == 1 { return nil }
        var output = Data(count: input.count * 3 / 4)
        let ok = values.withUnsafeBufferPointer { table in
            output.withUnsafeMutableBytes { raw -> Bool in
                let out = raw.bindMemory(to: UInt8.self)
                var read = 0
                var written = 0
                while read + 4 <= input.count {
                    let a = table[Int(input[read])]
                    let b = table[Int(input[read + 1])]
                    let c = table[Int(input[read + 2])]
                    let d = table[Int(input[read + 3])]
                    // Every alphabet value is below 64; 0xFF (not in the alphabet) sets the high bit.
                    if (a | b | c | d) & 0x80 != 0 { return false }
                    let value = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[written] = UInt8(truncatingIfNeeded: value >> 16)
                    out[written + 1] = UInt8(truncatingIfNeeded: value >> 8)
                    out[written + 2] = UInt8(truncatingIfNeeded: value)
                    read += 4
                    written += 3
                }
                // Two or three characters left: one or two bytes, the last character's unused bits dropped.
                let left = input.count - read
                guard left >= 2 else { return true }
                let a = table[Int(input[read])]
                let b = table[Int(input[read + 1])]
                let c = left == 3 ? table[Int(input[read + 2])] : 0
                if (a | b | c) & 0x80 != 0 { return false }
                let value = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                out[written] = UInt8(truncatingIfNeeded: value >> 16)
                if left == 3 { out[written + 1] = UInt8(truncatingIfNeeded: value >> 8) }
                return true
            }
        }
        return ok ? output : nil
    }
}
