import Foundation

/// Reading a record from its signed JSON payload: the one entry point the control room's intake, the box's other
/// protocols' transports and the evidence tools use.
///
/// Foundation's `JSONDecoder` spent about 20 µs per record through `Codable`'s containers, a quarter of all CPU in a
/// drain to a control room on the same machine (issue 29). `RecordJSONReader` reads the form boxes write (plain
/// strings and numbers, the record kinds of a backlog) directly; whatever it does not take on — an escape in a
/// string, a number it would have to interpret, a health or boot body, a duplicate key, anything malformed — goes to
/// `JSONDecoder` as before. So the reader only ever adds speed: when it answers, its answer is the one `JSONDecoder`
/// gives (`RecordJSONTests` checks that over generated records and mutated payloads), and every refusal and its
/// reason still come from `JSONDecoder`.
extension Record {
    /// The record in `payload` (UTF-8 JSON), read by `RecordJSONReader` when it can, else by `decoder`.
    public static func decode(json payload: Data, decoder: JSONDecoder = JSONDecoder()) throws -> Record {
        if let record = RecordJSONReader.record(payload) { return record }
        return try decoder.decode(Record.self, from: payload)
    }
}

/// A strict reader of the JSON boxes write for their records: a tree of the payload's values, then the record
/// built from it with the same keys and rules as `Record.init(from:)`. Nil whenever it is not certain of
/// `JSONDecoder`'s answer; never an error of its own.
public enum RecordJSONReader {
    /// The record, or nil to leave the payload to `JSONDecoder`.
    public static func record(_ payload: Data) -> Record? {
        PlainJSON.object(payload).flatMap(record)
    }

    typealias Node = PlainJSON.Node
    typealias Object = PlainJSON.Object

    // MARK: The record's types, key for key as their `Codable` conformances

    static func record(_ object: Object) -> Record? {
        guard let version = object.required("v", PlainJSON.int),
            let device = object.required("device", PlainJSON.string),
            let sequence = object.required("seq", PlainJSON.int64), let id = object.required("id", PlainJSON.string),
            let previousHash = object.optional("prev", PlainJSON.string),
            let time = object.required("time", PlainJSON.time),
            let timeSource: TimeSource = object.required("timeSource", PlainJSON.raw),
            let fix = object.optional("fix", { PlainJSON.members($0).flatMap(Self.fix) }),
            let telemetry = object.optional("telemetry", { PlainJSON.members($0).flatMap(Self.telemetry) }),
            let kind: RecordKind = object.required("kind", PlainJSON.raw), let body = Self.body(kind, object)
        else { return nil }
        var record = Record(
            device: device, sequence: sequence, previousHash: previousHash,
            draft: RecordDraft(id: id, time: time, timeSource: timeSource, fix: fix, body: body))
        record.version = version
        record.telemetry = telemetry
        return record
    }

    static func body(_ kind: RecordKind, _ record: Object) -> RecordBody? {
        switch kind {
        case .position: return .position
        // Rare kinds with bodies of their own: JSONDecoder reads them.
        case .health, .boot: return nil
        default: break
        }
        guard let fields = record.required("body", PlainJSON.members) else { return nil }
        switch kind {
        case .emergency: return fields.required("input", PlainJSON.string).map { .emergency(input: $0) }
        case .help: return fields.required("input", PlainJSON.string).map { .help(input: $0) }
        case .cleared:
            guard let alert = fields.required("alert", PlainJSON.string),
                let by = fields.required("by", PlainJSON.string)
            else {
                return nil
            }
            return .cleared(alert: alert, by: by)
        case .tamper, .restored:
            guard let reason: TamperReason = fields.required("reason", PlainJSON.raw),
                let input = fields.required("input", PlainJSON.string)
            else { return nil }
            return kind == .tamper ? .tamper(reason: reason, input: input) : .restored(reason: reason, input: input)
        case .power:
            guard let state: PowerState = fields.required("state", PlainJSON.raw),
                let input = fields.optional("input", PlainJSON.string)
            else { return nil }
            return .power(state: state, input: input)
        case .ignition:
            guard let state: IgnitionState = fields.required("state", PlainJSON.raw),
                let input = fields.required("input", PlainJSON.string)
            else { return nil }
            return .ignition(state: state, input: input)
        case .position, .health, .boot: return nil
        }
    }

    static func fix(_ object: Object) -> RecordFix? {
        guard let latitude = object.required("lat", PlainJSON.double),
            let longitude = object.required("lon", PlainJSON.double),
            let altitude = object.optional("alt", PlainJSON.double),
            let speed = object.optional("speed", PlainJSON.double),
            let course = object.optional("course", PlainJSON.double),
            let mode: RecordFix.Mode = object.required("mode", PlainJSON.raw),
            let hdop = object.optional("hdop", PlainJSON.double),
            let satellites = object.optional("sats", PlainJSON.int),
            let fixTime = object.optional("fixTime", PlainJSON.time),
            let age = object.required("ageMs", PlainJSON.int64)
        else { return nil }
        return RecordFix(
            latitude: latitude, longitude: longitude, altitude: altitude, speed: speed, course: course, mode: mode,
            hdop: hdop, satellites: satellites, fixTime: fixTime, ageMilliseconds: age)
    }

    static func telemetry(_ object: Object) -> Telemetry? {
        guard let radio = object.optional("radio", { PlainJSON.members($0).flatMap(Self.radio) }),
            let supply = object.optional("supply", { PlainJSON.members($0).flatMap(Self.supply) }),
            let ignition = object.optional("ignition", PlainJSON.bool),
            let mainPower = object.optional("mainPower", PlainJSON.bool),
            let enclosureOpen = object.optional("enclosureOpen", PlainJSON.bool),
            let emergencyOpen = object.optional("emergencyOpen", PlainJSON.bool)
        else { return nil }
        return Telemetry(
            radio: radio, supply: supply, ignition: ignition, mainPower: mainPower, enclosureOpen: enclosureOpen,
            emergencyOpen: emergencyOpen)
    }

    static func radio(_ object: Object) -> Telemetry.Radio? {
        guard let signal = object.optional("signal", PlainJSON.int),
            let operatorName = object.optional("operator", PlainJSON.string),
            let mcc = object.optional("mcc", PlainJSON.int), let mnc = object.optional("mnc", PlainJSON.int),
            let serving = object.optional("serving", { PlainJSON.members($0).flatMap(Self.cell) }),
            let neighbours = object.optional("neighbours", Self.cells)
        else { return nil }
        return Telemetry.Radio(
            signal: signal, operatorName: operatorName, mcc: mcc, mnc: mnc, serving: serving,
            neighbours: neighbours ?? [])
    }

    static func cells(_ node: Node) -> [Telemetry.Cell]? {
        PlainJSON.array(node) { PlainJSON.members($0).flatMap(cell) }
    }

    static func cell(_ object: Object) -> Telemetry.Cell? {
        guard let lac = object.required("lac", PlainJSON.int), let cellID = object.required("cid", PlainJSON.int),
            let signal = object.optional("signal", PlainJSON.int)
        else { return nil }
        return Telemetry.Cell(lac: lac, cellID: cellID, signal: signal)
    }

    static func supply(_ object: Object) -> Telemetry.Supply? {
        guard let main = object.optional("mainVolts", PlainJSON.double),
            let backup = object.optional("backupVolts", PlainJSON.double),
            let battery = object.optional("batteryPercent", PlainJSON.int)
        else { return nil }
        return Telemetry.Supply(mainVolts: main, backupVolts: backup, batteryPercent: battery)
    }
}
