import Foundation

/// The bytes of a `RecordBatch` as JSON, written directly: a backlog batch is 500 envelopes of ~700 bytes, and
/// Foundation's `JSONEncoder` builds a value tree of it and checks every byte of every string for escaping through
/// that tree, which took a sixth of the box's CPU in a drain (issue 29). This writes the same object (the same
/// keys, `JSONDecoder` reads back the same batch) in one pass into one buffer.
extension RecordBatch {
    /// The batch as a JSON object, UTF-8. Every string is escaped as RFC 8259 requires (`"`, `\` and control
    /// characters); anything else, including non-ASCII text, is written as it is.
    public func jsonBytes() -> [UInt8] {
        var writer = JSONBytesWriter(capacity: envelopes.reduce(256) { $0 + $1.utf8.count + 3 })
        writer.raw("{\"device\":")
        writer.string(device)
        writer.raw(",\"envelopes\":")
        writer.array(envelopes) { $0.string($1) }
        writer.raw(",\"commandAcks\":")
        writer.array(commandAcks) { $0.string($1) }
        if let commandRefusals {
            writer.raw(",\"commandRefusals\":")
            writer.array(commandRefusals) { writer, refusal in
                writer.raw("{\"nonce\":")
                writer.string(refusal.nonce)
                writer.raw(",\"reason\":")
                writer.string(refusal.reason)
                writer.raw("}")
            }
        }
        if let proof {
            writer.raw(",\"proof\":")
            writer.string(proof)
        }
        writer.raw("}")
        return writer.bytes
    }
}

/// Appends JSON text to a byte buffer.
struct JSONBytesWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    /// Appends `text` as it is (JSON punctuation and keys the caller knows need no escaping).
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func array<T>(_ elements: [T], _ element: (inout JSONBytesWriter, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (index, value) in elements.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            element(&self, value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// Appends `text` as a JSON string: quoted, with `"`, `\` and U+0000–U+001F escaped.
    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            // Runs of bytes that need no escape are copied whole.
            var runStart = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])  // \"
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])  // \\
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 15)],
                    ])
                }
                runStart = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            bytes.append(UInt8(ascii: "\""))
        }
    }
}

/// A control room's answer read directly: 500 results a batch through `JSONDecoder`'s containers cost the box as
/// much CPU again as claiming the batch did (issue 29). Answers carrying alert states (an open alert's, rare in a
/// drain) and anything `PlainJSON` will not read go to `JSONDecoder`, which stays the reference: when the direct
/// reading answers, it is `JSONDecoder`'s answer (`RecordBatchWireTests`).
extension RecordBatchResponse {
    /// The answer in `payload`, read directly when it can be, else by `decoder`.
    public static func decode(json payload: Data, decoder: JSONDecoder = JSONDecoder()) throws -> RecordBatchResponse {
        if let response = direct(payload) { return response }
        return try decoder.decode(RecordBatchResponse.self, from: payload)
    }

    /// The direct reading, or nil to leave the payload to `JSONDecoder`.
    public static func direct(_ payload: Data) -> RecordBatchResponse? {
        guard let object = PlainJSON.object(payload),
            let results = object.required("results", { PlainJSON.array($0, result) }),
            let alerts = object.required("alerts", { PlainJSON.array($0, noAlert) }),
            let commands = object.required("commands", { PlainJSON.array($0, PlainJSON.string) }),
            let authentication = object.optional("authentication", { PlainJSON.members($0).flatMap(authentication) })
        else { return nil }
        return RecordBatchResponse(
            results: results, alerts: alerts, commands: commands, authentication: authentication)
    }

    /// Alert states are left to `JSONDecoder`: an answer that has any is not read directly.
    static func noAlert(_ node: PlainJSON.Node) -> RemoteAlertState? { nil }

    static func result(_ node: PlainJSON.Node) -> RecordResult? {
        guard let object = PlainJSON.members(node),
            let status: RecordResult.Status = object.required("status", PlainJSON.raw),
            let sequence = object.optional("sequence", PlainJSON.int64),
            let reason: RejectionReason? = object.optional("reason", PlainJSON.raw)
        else { return nil }
        return RecordResult(status: status, sequence: sequence, reason: reason)
    }

    static func authentication(_ object: PlainJSON.Object) -> BatchAuthentication? {
        guard let verified = object.required("verified", PlainJSON.bool),
            let refusal: BatchProofRefusal? = object.optional("refusal", PlainJSON.raw),
            let serverTime = object.required("serverTime", PlainJSON.time),
            let checked = object.optional("checked", PlainJSON.bool)
        else { return nil }
        return BatchAuthentication(verified: verified, refusal: refusal, serverTime: serverTime, checked: checked)
    }
}

/// A box's batch read directly at the control room (500 envelopes through `JSONDecoder`'s containers); anything
/// `PlainJSON` will not read — an escape in a string, say — goes to `JSONDecoder`, whose answer and errors stay
/// the reference (`RecordBatchWireTests`).
extension RecordBatch {
    /// The batch in `payload`, read directly when it can be, else by `decoder`.
    public static func decode(json payload: Data, decoder: JSONDecoder = JSONDecoder()) throws -> RecordBatch {
        if let batch = direct(payload) { return batch }
        return try decoder.decode(RecordBatch.self, from: payload)
    }

    /// The direct reading, or nil to leave the payload to `JSONDecoder`.
    public static func direct(_ payload: Data) -> RecordBatch? {
        guard let object = PlainJSON.object(payload), let device = object.required("device", PlainJSON.string),
            let envelopes = object.required("envelopes", { PlainJSON.array($0, PlainJSON.string) }),
            let acks = object.required("commandAcks", { PlainJSON.array($0, PlainJSON.string) }),
            let refusals = object.optional("commandRefusals", { PlainJSON.array($0, refusal) }),
            let proof = object.optional("proof", PlainJSON.string)
        else { return nil }
        return RecordBatch(
            device: device, envelopes: envelopes, commandAcks: acks, commandRefusals: refusals, proof: proof)
    }

    static func refusal(_ node: PlainJSON.Node) -> CommandRefusalReport? {
        guard let object = PlainJSON.members(node), let nonce = object.required("nonce", PlainJSON.string),
            let reason = object.required("reason", PlainJSON.string)
        else { return nil }
        return CommandRefusalReport(nonce: nonce, reason: reason)
    }
}
