/// Text from outside the box (a server's answer, a modem's line, a field of an unverified command) made safe to put
/// in a log line: the one helper every log line that carries such text uses.
///
/// The result is in double quotes, so a reader sees where the outside text starts and ends; inside them every
/// character outside printable ASCII (line ends, escape sequences, other control characters, non-ASCII) is written
/// as `\u{HEX}`, and `"` and `\` are escaped, so the text can neither start a new log line, nor recolour or move the
/// terminal's cursor, nor close the quotes early. Text longer than `limit` characters is cut, with `…(N more)`.
public enum LogText {
    /// The most characters of outside text a log line carries by default.
    public static let defaultLimit = 120

    /// `text` quoted and escaped for a log line (see `LogText`).
    public static func quoted(_ text: some StringProtocol, limit: Int = LogText.defaultLimit) -> String {
        var result = "\""
        var count = 0
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if count == max(limit, 0) {
                var more = 1
                while scalars.next() != nil { more += 1 }
                result += "\"…(\(more) more)"
                return result
            }
            count += 1
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case " "..."~": result.unicodeScalars.append(scalar)
            default: result += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return result + "\""
    }
}
