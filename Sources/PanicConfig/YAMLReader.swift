import PanicCore
import Yams

/// A strict reader over a composed YAML tree: every key it is asked for is remembered, so the keys nobody asked
/// for are reported as unknown; every problem carries the key path and the line and column it was found at.
///
/// It collects problems rather than stopping at the first, so one `boards check` run names everything wrong.
struct YAMLReader {
    private(set) var problems: [BoardProblem] = []
    /// Where each key path read so far stands in the text, to place problems found after reading.
    private var marks: [String: Mark] = [:]

    /// Gives a problem found later (by semantic checks) the place of its key, or of the nearest enclosing key.
    func placed(_ problem: BoardProblem) -> BoardProblem {
        var key = problem.key
        while !key.isEmpty {
            if let mark = marks[key] {
                var placed = problem
                placed.line = mark.line
                placed.column = mark.column
                return placed
            }
            guard let cut = key.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            key = String(key[..<cut])
        }
        return problem
    }

    /// Parses `text`; a syntax error becomes a problem with the line and column libyaml reports.
    mutating func compose(_ text: String) -> Node? {
        do {
            // The basic resolver: every plain scalar stays a string until a key asks for a number or a flag (which
            // Yams parses without a tag). The default resolver would compile Foundation regular expressions on ICU
            // at start, keeping ICU's regex engine resident in an idle daemon; null is decided by `isNull`.
            guard let node = try Yams.compose(yaml: text, .basic) else {
                problems.append(.init(.syntax, key: "", "the file is empty"))
                return nil
            }
            return node
        } catch let error as YamlError {
            problems.append(Self.problem(from: error))
            return nil
        } catch {
            problems.append(.init(.syntax, key: "", "\(error)"))
            return nil
        }
    }

    mutating func report(_ kind: BoardProblem.Kind, _ key: String, _ message: String, at node: Node?) {
        problems.append(.init(kind, key: key, message, line: node?.mark?.line, column: node?.mark?.column))
    }

    /// The entries of a mapping, after checking that it is one, that no key repeats and that every key is known.
    mutating func mapping(_ node: Node, at key: String, known: Set<String>) -> [String: Node]? {
        guard case .mapping(let mapping) = node else {
            report(.wrongType, key, "expected a mapping of keys to values, found \(Self.describe(node))", at: node)
            return nil
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let name = keyNode.string ?? "\(keyNode)"
            let path = key.isEmpty ? name : "\(key).\(name)"
            if result[name] != nil {
                report(.syntax, path, "key '\(name)' appears twice", at: keyNode)
                continue
            }
            if !known.contains(name) {
                let hint = Self.closest(to: name, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                report(.unknownKey, path, "unknown key '\(name)'\(hint)", at: keyNode)
                continue
            }
            result[name] = value
            marks[path] = keyNode.mark
        }
        return result
    }

    mutating func sequence(_ node: Node, at key: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(.wrongType, key, "expected a list, found \(Self.describe(node))", at: node)
            return nil
        }
        for (index, item) in sequence.enumerated() { marks["\(key)[\(index)]"] = item.mark }
        return Array(sequence)
    }

    mutating func string(_ node: Node?, at key: String, required: Bool = true) -> String? {
        guard let node else {
            if required { report(.missingKey, key, "missing required key", at: nil) }
            return nil
        }
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            report(.wrongType, key, "expected a string, found \(Self.describe(node))", at: node)
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node?, at key: String) -> Int? {
        guard let node else { return nil }
        guard case .scalar = node, let value = node.int else {
            report(.wrongType, key, "expected a whole number, found \(Self.describe(node))", at: node)
            return nil
        }
        return value
    }

    /// Reads a scalar that must be one of an enum's raw values.
    mutating func choice<Value: RawRepresentable & CaseIterable>(
        _ node: Node?, at key: String, as: Value.Type, unknownKind: BoardProblem.Kind = .invalidValue,
        required: Bool = true
    ) -> Value? where Value.RawValue == String {
        guard let text = string(node, at: key, required: required) else { return nil }
        if let value = Value(rawValue: text) { return value }
        let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
        report(unknownKind, key, "'\(text)' is not one of: \(allowed)", at: node)
        return nil
    }

    static func problem(from error: YamlError) -> BoardProblem {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return .init(.syntax, key: "", "YAML syntax error: \(text)", line: mark.line, column: mark.column)
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return .init(
                .syntax, key: "", "key \(names) appears twice in one mapping", line: context.mark.line,
                column: context.mark.column
            )
        default:
            return .init(.syntax, key: "", "YAML error: \(error)")
        }
    }

    /// Whether `node` is YAML's null (core schema): a plain, unquoted empty value, `~` or `null`; a quoted
    /// `"null"` is the string.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): isNull(node) ? "nothing" : "'\(scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// The known key a misspelt one most likely meant: one it abbreviates or extends, or one within edit distance 2.
    static func closest(to name: String, in known: Set<String>) -> String? {
        if let extended = known.filter({ $0.hasPrefix(name) || name.hasPrefix($0) }).min() { return extended }
        return known.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
