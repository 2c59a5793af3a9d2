/// A syntax check for udev rule files: every rule line must split into `KEY[{attr}] OP "value"` pairs whose keys
/// udev knows and whose operators suit the key (a match key cannot be assigned, an assignment key cannot be
/// matched), and every `GOTO` must have its `LABEL`. It reads the text only; `udevadm test` on a board checks what
/// a rule does.
public enum UdevRules {
    /// One problem on one line of a rules file.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// What a key may do.
    enum Usage { case match, assign, both }

    /// The keys of udev(7), with whether they take `{attribute}` and how they may be used.
    static let keys: [String: (attribute: Bool, usage: Usage)] = [
        "ACTION": (false, .match), "DEVPATH": (false, .match), "KERNEL": (false, .match), "KERNELS": (false, .match),
        "SUBSYSTEM": (false, .match), "SUBSYSTEMS": (false, .match), "DRIVER": (false, .match),
        "DRIVERS": (false, .match), "ATTRS": (true, .match), "TAGS": (false, .match), "TEST": (true, .match),
        "PROGRAM": (false, .match), "RESULT": (false, .match), "CONST": (true, .match), "SYSCTL": (true, .both),
        "ATTR": (true, .both), "ENV": (true, .both), "TAG": (false, .both), "NAME": (false, .both),
        "SYMLINK": (false, .both), "OWNER": (false, .assign), "GROUP": (false, .assign), "MODE": (false, .assign),
        "SECLABEL": (true, .assign), "RUN": (true, .assign), "LABEL": (false, .assign), "GOTO": (false, .assign),
        "IMPORT": (true, .assign), "OPTIONS": (false, .assign),
    ]
    static let matchOperators: Set<String> = ["==", "!="]
    static let assignOperators: Set<String> = ["=", "+=", "-=", ":="]

    /// Checks the text of one rules file.
    public static func check(_ text: String) -> [Problem] {
        var problems: [Problem] = []
        var labels: Set<String> = []
        var gotos: [(line: Int, label: String)] = []
        var pending = ""
        var pendingStart = 0
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            if pending.isEmpty { pendingStart = number }
            var line = Substring(raw)
            if line.hasSuffix("\\") {
                line.removeLast()
                pending += line
                continue
            }
            let logical = pending + line
            pending = ""
            let trimmed = logical.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            switch parse(String(trimmed)) {
            case .failure(let failure):
                problems.append(Problem(line: pendingStart, message: failure.message))
            case .success(let pairs):
                for pair in pairs {
                    if let message = validate(pair) { problems.append(Problem(line: pendingStart, message: message)) }
                    if pair.key == "LABEL" { labels.insert(pair.value) }
                    if pair.key == "GOTO" { gotos.append((pendingStart, pair.value)) }
                }
            }
        }
        if !pending.isEmpty {
            problems.append(Problem(line: pendingStart, message: "file ends inside a continued line"))
        }
        for goto in gotos where !labels.contains(goto.label) {
            problems.append(Problem(line: goto.line, message: "GOTO \"\(goto.label)\" has no matching LABEL"))
        }
        return problems
    }

    /// Why a rule line did not split into pairs.
    struct ParseFailure: Error {
        var message: String
    }

    struct Pair {
        var key: String
        var attribute: String?
        var op: String
        var value: String
    }

    /// Splits a rule into its comma-separated pairs.
    static func parse(_ rule: String) -> Result<[Pair], ParseFailure> {
        var pairs: [Pair] = []
        var rest = Substring(rule)
        func skipSpace() { rest = rest.drop { $0 == " " || $0 == "\t" } }
        while true {
            skipSpace()
            let key = rest.prefix { $0.isUppercase || $0 == "_" }
            guard !key.isEmpty else {
                return .failure(ParseFailure(message: "expected a key at \"\(rest.prefix(20))\""))
            }
            rest = rest.dropFirst(key.count)
            var attribute: String?
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else {
                    return .failure(ParseFailure(message: "\(key){ is not closed"))
                }
                attribute = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
            }
            skipSpace()
            let op = rest.prefix { !" \t\"".contains($0) }
            guard !op.isEmpty else { return .failure(ParseFailure(message: "expected an operator after \(key)")) }
            rest = rest.dropFirst(op.count)
            skipSpace()
            guard rest.first == "\"" else {
                return .failure(ParseFailure(message: "the value of \(key) must be in double quotes"))
            }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: "\"") else {
                return .failure(ParseFailure(message: "the value of \(key) is not closed"))
            }
            pairs.append(Pair(key: String(key), attribute: attribute, op: String(op), value: String(rest[..<end])))
            rest = rest[rest.index(after: end)...]
            skipSpace()
            if rest.isEmpty { return .success(pairs) }
            guard rest.first == "," else {
                return .failure(ParseFailure(message: "expected ',' between pairs at \"\(rest.prefix(20))\""))
            }
            rest = rest.dropFirst()
        }
    }

    static func validate(_ pair: Pair) -> String? {
        guard let spec = keys[pair.key] else { return "unknown key \(pair.key)" }
        if spec.attribute, pair.attribute == nil { return "\(pair.key) needs an {attribute}" }
        if !spec.attribute, pair.attribute != nil { return "\(pair.key) takes no {attribute}" }
        let isMatch = matchOperators.contains(pair.op)
        let isAssign = assignOperators.contains(pair.op)
        guard isMatch || isAssign else { return "unknown operator '\(pair.op)' after \(pair.key)" }
        switch spec.usage {
        case .match where isAssign: return "\(pair.key) can only be matched (== or !=), not assigned with '\(pair.op)'"
        case .assign where isMatch: return "\(pair.key) can only be assigned, not matched with '\(pair.op)'"
        default: break
        }
        if pair.key == "MODE", pair.value.count != 4 || !pair.value.allSatisfy({ ("0"..."7").contains($0) }) {
            return "MODE \"\(pair.value)\" is not a four-digit octal mode"
        }
        return nil
    }
}
