import Foundation

/// A strict reader of plain JSON into a small tree, for the few hot payloads read directly instead of through
/// `JSONDecoder` (`RecordJSONReader`, `RecordBatch.decode(json:)`, `RecordBatchResponse.decode(json:)`). Every reading answers nil rather than
/// guess: a string with an escape, a number outside the plain forms, a duplicate key, a type that is not the field's.
/// Its callers then hand the bytes to `JSONDecoder`, whose answer and errors stay the reference.
enum PlainJSON {
    /// The object `payload` holds, or nil.
    static func object(_ payload: Data) -> Object? {
        let node: Node? = payload.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            return parser.document()
        }
        return node.flatMap(members)
    }

    /// A parsed JSON value. Numbers keep their text: how one is read depends on the field it lands in.
    enum Node {
        case null
        case bool(Bool)
        /// Text matching JSON's number grammar.
        case number(String)
        case string(String)
        case array([Node])
        case object([(String, Node)])
    }

    /// An object's members, found by key (objects in records have a dozen keys at most: a linear search).
    struct Object {
        let fields: [(String, Node)]
        init(_ fields: [(String, Node)]) { self.fields = fields }

        subscript(key: String) -> Node? { fields.first { $0.0 == key }?.1 }

        /// `Codable`'s `decode`: present and not null (nil means "leave it to JSONDecoder", as everywhere here).
        func required<T>(_ key: String, _ read: (Node) -> T?) -> T? {
            guard let node = self[key] else { return nil }
            if case .null = node { return nil }
            return read(node)
        }

        /// `Codable`'s `decodeIfPresent`: `.some(nil)` when absent or null, nil when present and unreadable.
        func optional<T>(_ key: String, _ read: (Node) -> T?) -> T?? {
            guard let node = self[key] else { return .some(nil) }
            if case .null = node { return .some(nil) }
            guard let value = read(node) else { return nil }
            return .some(value)
        }
    }

    // MARK: Values as `JSONDecoder` reads them

    static func string(_ node: Node) -> String? {
        if case .string(let text) = node { return text }
        return nil
    }

    /// Integers written as plain digits only (an exponent or a fraction is left to JSONDecoder's own rules).
    static func int64(_ node: Node) -> Int64? {
        guard case .number(let text) = node, !text.utf8.contains(where: { $0 == 0x2E || $0 | 0x20 == 0x65 }) else {
            return nil
        }
        return Int64(text)
    }

    static func int(_ node: Node) -> Int? { int64(node).flatMap { Int(exactly: $0) } }

    /// Decimals without an exponent (where under- and overflow would need JSONDecoder's own rules).
    static func double(_ node: Node) -> Double? {
        guard case .number(let text) = node, !text.utf8.contains(where: { $0 | 0x20 == 0x65 }),
            let value = Double(text), value.isFinite
        else { return nil }
        return value
    }

    static func bool(_ node: Node) -> Bool? {
        if case .bool(let value) = node { return value }
        return nil
    }

    static func raw<T: RawRepresentable<String>>(_ node: Node) -> T? { string(node).flatMap(T.init(rawValue:)) }

    /// An array whose every element `element` reads.
    static func array<T>(_ node: Node, _ element: (Node) -> T?) -> [T]? {
        guard case .array(let elements) = node else { return nil }
        var values: [T] = []
        values.reserveCapacity(elements.count)
        for node in elements {
            guard let value = element(node) else { return nil }
            values.append(value)
        }
        return values
    }

    static func members(_ node: Node) -> Object? {
        if case .object(let fields) = node { return Object(fields) }
        return nil
    }

    static func time(_ node: Node) -> RecordTime? { string(node).flatMap(RecordTime.init(rfc3339:)) }

    /// RFC 8259 JSON, stricter where it helps: nil for any string with an escape or invalid UTF-8, a duplicate key,
    /// nesting deeper than `maximumDepth`, or anything after the value.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        static let maximumDepth = 16

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func document() -> Node? {
            guard let node = value(depth: 0) else { return nil }
            skipSpace()
            return index == bytes.count ? node : nil
        }

        mutating func skipSpace() {
            while index < bytes.count,
                bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D
                    || bytes[index] == 0x09
            {
                index += 1
            }
        }

        mutating func value(depth: Int) -> Node? {
            skipSpace()
            guard index < bytes.count, depth < Self.maximumDepth else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map { .string($0) }
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            default: return number().map { .number($0) }
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        mutating func object(depth: Int) -> Node? {
            index += 1  // {
            var fields: [(String, Node)] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                index += 1
                guard let member = value(depth: depth + 1), !fields.contains(where: { $0.0 == key }) else {
                    return nil
                }
                fields.append((key, member))
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(fields)
                }
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        }

        mutating func array(depth: Int) -> Node? {
            index += 1  // [
            var elements: [Node] = []
            skipSpace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                guard let element = value(depth: depth + 1) else { return nil }
                elements.append(element)
                skipSpace()
                guard index < bytes.count else { return nil }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(elements)
                }
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        }

        /// A string without escapes or control characters, valid UTF-8; `index` is at its opening quote.
        mutating func string() -> String? {
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                if bytes[end] == UInt8(ascii: "\\") || bytes[end] < 0x20 { return nil }
                end += 1
            }
            guard end < bytes.count else { return nil }
            index = end + 1
            return String(validating: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, as text.
        mutating func number() -> String? {
            let start = index
            func digits() -> Int {
                let first = index
                while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                return index - first
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                return nil
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { return nil }
            }
            if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard digits() > 0 else { return nil }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }
    }
}
