import Foundation
import PanicCore
import Testing

@Suite("Record.decode(json:): the direct reader answers only what JSONDecoder answers")
struct RecordJSONTests {
    /// A deterministic generator (SplitMix64), so a failure names a seed that reproduces it. A class, so the
    /// helpers below share one state without overlapping `inout` accesses.
    final class Generator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        func coin() -> Bool {
            var random = self
            return Bool.random(using: &random)
        }

        func below(_ bound: Int) -> Int {
            var random = self
            return Int.random(in: 0..<bound, using: &random)
        }

        func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

        func maybe<T>(_ make: () -> T) -> T? { coin() ? make() : nil }

        func double() -> Double {
            var random = self
            switch below(5) {
            case 0: return Double(Int.random(in: -180...180, using: &random))
            case 1: return Double.random(in: -1e-6...1e-6, using: &random)  // written with an exponent
            case 2: return Double.random(in: -1e9...1e9, using: &random)
            default: return (Double.random(in: -90...90, using: &random) * 1e6).rounded() / 1e6
            }
        }

        func int() -> Int { pick([0, -1, 1, 404, 65_535, Int.max, Int.min]) }

        func time() -> RecordTime {
            var random = self
            return RecordTime(epochMilliseconds: Int64.random(in: 0...4_000_000_000_000, using: &random))
        }
    }

    static let texts = ["panic-1", "seat row 3", "ünïcødé ✓", "quote \" and \\ slash/", "tab\tline\n", "", "🚨"]

    static func body(_ random: Generator) -> RecordBody {
        let text = random.pick(texts)
        switch random.below(12) {
        case 0: return .emergency(input: text)
        case 1: return .help(input: text)
        case 2: return .cleared(alert: UUID().uuidString, by: text)
        case 3: return .tamper(reason: random.pick(TamperReason.allCases), input: text)
        case 4: return .restored(reason: random.pick(TamperReason.allCases), input: text)
        case 5: return .power(state: random.pick(PowerState.allCases), input: random.maybe { text })
        case 6: return .ignition(state: random.pick(IgnitionState.allCases), input: text)
        case 7:
            return .health(
                HealthReport(
                    queueDepth: 3, oldestUndeliveredAgeMilliseconds: nil, fixAgeMilliseconds: 900, inputFaults: [],
                    diskFreeBytes: nil, droppedRecords: 0, faults: ["x"]))
        case 8: return .boot(BootReport(reason: .powerCut, downMilliseconds: 5_000, found: []))
        default: return .position
        }
    }

    static func record(_ random: Generator) -> Record {
        let fix = random.maybe {
            RecordFix(
                latitude: random.double(), longitude: random.double(), altitude: random.maybe(random.double),
                speed: random.maybe(random.double), course: random.maybe(random.double),
                mode: random.coin() ? .twoD : .threeD, hdop: random.maybe(random.double),
                satellites: random.maybe(random.int), fixTime: random.maybe(random.time),
                ageMilliseconds: Int64(random.int()))
        }
        let cell = { Telemetry.Cell(lac: random.int(), cellID: random.int(), signal: random.maybe(random.int)) }
        let radio = {
            Telemetry.Radio(
                signal: random.maybe(random.int), operatorName: random.maybe { texts[0] },
                mcc: random.maybe { 404 }, mnc: random.maybe(random.int), serving: random.maybe(cell),
                neighbours: (0..<random.below(3)).map { _ in cell() })
        }
        let supply = {
            Telemetry.Supply(
                mainVolts: random.maybe(random.double), backupVolts: random.maybe(random.double),
                batteryPercent: random.maybe(random.int))
        }
        let telemetry = random.maybe {
            Telemetry(
                radio: random.maybe(radio), supply: random.maybe(supply), ignition: random.maybe(random.coin),
                mainPower: random.maybe { true }, enclosureOpen: random.maybe { false },
                emergencyOpen: random.maybe { true })
        }
        let draft = RecordDraft(
            id: UUID().uuidString.lowercased(), time: random.time(), timeSource: random.coin() ? .gnss : .system,
            fix: fix, body: body(random), telemetry: telemetry)
        return Record(
            device: random.pick(texts), sequence: Int64(random.int()),
            previousHash: random.maybe { String(repeating: "ab", count: 32) }, draft: draft)
    }

    /// What the box writes (`Envelope`'s encoder).
    static func payload(_ record: Record) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(record)
    }

    @Test(
        "3,000 generated records: the same record as JSONDecoder's; read directly unless a string has an escape, a number an exponent, or the body is health or boot"
    )
    func generated() throws {
        let random = Generator(seed: 29)
        var direct = 0
        for _ in 0..<3_000 {
            let record = Self.record(random)
            let payload = try Self.payload(record)
            #expect(try Record.decode(json: payload) == record)
            if let fast = RecordJSONReader.record(payload) {
                #expect(fast == record)
                direct += 1
            } else {
                let text = String(decoding: payload, as: UTF8.self)
                #expect(
                    text.contains("\\") || text.contains(/[0-9][eE][-+]?[0-9]/) || record.kind == .health
                        || record.kind == .boot, "left to JSONDecoder without a reason: \(text)")
            }
        }
        #expect(direct > 500)  // the common form is read directly
    }

    @Test("a box's plain position with telemetry is read directly")
    func plainPosition() throws {
        let payload = Data(
            #"{"device":"bus-7","fix":{"ageMs":900,"lat":28.6139,"lon":77.209,"mode":"3d","sats":9},"id":"a","kind":"position","prev":null,"seq":12,"telemetry":{"ignition":true,"radio":{"mcc":404,"neighbours":[{"cid":2,"lac":1}],"signal":-71},"supply":{"mainVolts":12.4}},"time":"2026-12-08T01:02:03.456Z","timeSource":"gnss","v":1}"#
                .utf8)
        let fast = try #require(RecordJSONReader.record(payload))
        #expect(fast == (try JSONDecoder().decode(Record.self, from: payload)))
        #expect(fast.fix?.latitude == 28.6139 && fast.telemetry?.radio?.neighbours.count == 1)
    }

    @Test("20,000 mutated payloads: whenever the direct reader answers, JSONDecoder answers the same")
    func mutated() throws {
        let random = Generator(seed: 1_090)
        // Bytes that make JSON interesting: structure, digits, signs, exponents, escapes, quotes, invalid UTF-8.
        let alphabet = Array(#"{}[]:,"\ -+.eE0123456789tfnul"#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xFF, 0x0A]
        var answered = 0
        for _ in 0..<20_000 {
            var bytes = [UInt8](try Self.payload(Self.record(random)))
            for _ in 0..<1 + random.below(3) {
                let at = random.below(bytes.count)
                switch random.below(3) {
                case 0: bytes[at] = random.pick(alphabet)
                case 1: bytes.remove(at: at)
                default: bytes.insert(random.pick(alphabet), at: at)
                }
                if bytes.isEmpty { break }
            }
            let payload = Data(bytes)
            guard let fast = RecordJSONReader.record(payload) else { continue }
            answered += 1
            let reference = try? JSONDecoder().decode(Record.self, from: payload)
            #expect(fast == reference, "payload: \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(answered > 1_000)  // mutations that leave a valid record (a digit for a digit, say) are read
    }

    @Test("refusals keep JSONDecoder's reasons: not JSON, a missing field, an unknown kind, a duplicate key")
    func refusals() {
        let cases = [
            "not json", #"{"v":1}"#, #"{"v":1,"v":1}"#, "{}", "[]",
            #"{"device":"d","id":"a","kind":"siren","prev":null,"seq":1,"time":"2026-12-08T01:02:03.456Z","timeSource":"gnss","v":1}"#,
        ]
        for text in cases {
            #expect(RecordJSONReader.record(Data(text.utf8)) == nil)
            #expect(throws: DecodingError.self) { try Record.decode(json: Data(text.utf8)) }
        }
    }

    @Test("a duplicate key is left to JSONDecoder, whichever value it takes")
    func duplicateKey() throws {
        let payload = Data(
            #"{"device":"bus-7","fix":null,"id":"a","kind":"position","prev":null,"seq":12,"seq":13,"time":"2026-12-08T01:02:03.456Z","timeSource":"gnss","v":1}"#
                .utf8)
        #expect(RecordJSONReader.record(payload) == nil)
        let reference = try? JSONDecoder().decode(Record.self, from: payload)
        #expect((try? Record.decode(json: payload)) == reference)
        // The same record without the duplicate is read directly.
        let single = Data(
            String(decoding: payload, as: UTF8.self).replacingOccurrences(of: #""seq":13,"#, with: "").utf8)
        #expect(RecordJSONReader.record(single)?.sequence == 12)
    }
}
