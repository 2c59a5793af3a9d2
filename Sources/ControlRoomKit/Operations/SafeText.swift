/// User-controlled text made safe for a log line or the audit table: control characters (newlines, escape
/// sequences, NUL) written as `\u{…}`, backslashes doubled, cut at `limit` characters. A login name can then not
/// forge a log line, colour a terminal, or make PostgreSQL refuse the row.
public enum SafeText {
    public static func escaped(_ text: String, limit: Int = 200) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            switch scalar {
            case "\\": result += "\\\\"
            case _ where scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}":
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > limit ? result + "…" : result
    }

    /// `escaped`, in double quotes (a quote inside escaped too): for log metadata, so where the value ends is plain.
    public static func quoted(_ text: String, limit: Int = 80) -> String {
        "\"" + escaped(text, limit: limit).replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
