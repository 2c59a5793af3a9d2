import Foundation
import Hummingbird
import Logging
import PanicConfig
import PanicCore
import PanicSigning
import PanicStore
import PanicUplink
import Synchronization

/// A Traccar-like OsmAnd server on loopback for scenarios and tests: takes `POST /?id=…&lat=…`, answers 200, and
/// keeps each request's query items in arrival order.
final class OsmAndReferenceReceiver: Sendable {
    private let state = Mutex<[[String: String]]>([])
    /// The requests received, in order.
    var requests: [[String: String]] { state.withLock { $0 } }

    /// Serves on a free loopback port until cancelled; `onRunning` gets the port.
    func run(logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.post("/") { request, _ -> HTTPResponse.Status in
            var items: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { items[String(name)] = String(value) }
            guard items["id"] != nil else { return .badRequest }
            self.state.withLock { $0.append(items) }
            return .ok
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { await onRunning($0.localAddress?.port ?? 0) }, logger: logger)
        // No signal handling of its own: a receiver is a part of the run, and a SIGTERM that only shut the
        // receivers down (Hummingbird's default) left `panicd sim` running without them.
        try await app.runService(gracefulShutdownSignals: [])
    }
}

/// The receivers a scenario's `backends:` name, started beside the embedded control room, and the check at the end
/// that each got every record it should — each alert once with the right alarm, each position once, the backlog in
/// order.
final class ScenarioReceivers: Sendable {
    enum Receiver: Sendable {
        case ais140(AIS140ReferenceReceiver)
        case osmand(OsmAndReferenceReceiver)
        /// An external server: nothing to check here.
        case external
    }

    struct Entry: Sendable {
        let backend: Scenario.Backend
        let receiver: Receiver
        let url: String
    }

    let entries: [Entry]
    let identity: BoxIdentity?

    private init(entries: [Entry], identity: BoxIdentity?) {
        self.entries = entries
        self.identity = identity
    }

    /// Starts a reference receiver for every backend without a `url`, in `group`.
    static func start(
        _ scenario: Scenario, in group: inout ThrowingTaskGroup<Void, any Error>, logger: Logger
    ) async throws -> ScenarioReceivers {
        var entries: [Entry] = []
        for backend in scenario.backends {
            if let url = backend.url {
                entries.append(Entry(backend: backend, receiver: .external, url: url.absoluteString))
                continue
            }
            switch backend.wire {
            case .ais140:
                let receiver = try await AIS140ReferenceReceiver()
                group.addTask { try await receiver.run() }
                entries.append(Entry(backend: backend, receiver: .ais140(receiver), url: receiver.url))
            case .osmand, .panicbridge:
                let receiver = OsmAndReferenceReceiver()
                let (ports, sink) = AsyncStream<Int>.makeStream()
                group.addTask { try await receiver.run(logger: logger) { sink.yield($0) } }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else {
                    throw SimulationError("the OsmAnd receiver did not start")
                }
                entries.append(Entry(backend: backend, receiver: .osmand(receiver), url: "http://127.0.0.1:\(port)/"))
            }
        }
        return ScenarioReceivers(entries: entries, identity: scenario.identity)
    }

    /// The uplink's configuration for each receiver.
    func configurations(deviceID: String) -> [BackendConfiguration] {
        entries.map { entry in
            let wire: BackendProtocol
            switch entry.backend.wire {
            case .ais140:
                var options = AIS140Options(
                    identity: identity ?? BoxIdentity(imei: "000000000000000"),
                    emergencyOnly: entry.backend.emergencyOnly)
                options.dialect = entry.backend.dialect
                wire = .ais140(options)
            case .osmand, .panicbridge: wire = .osmAnd(OsmAndOptions(deviceID: identity?.imei ?? deviceID))
            }
            return BackendConfiguration(
                name: entry.backend.name, url: entry.url, batchSize: 100, requestTimeout: .seconds(5), wire: wire)
        }
    }

    /// Each AIS-140 reference receiver's connections and answered logins.
    var ais140Sessions: [(backend: String, connections: Int, logins: Int)] {
        entries.compactMap { entry in
            guard case .ais140(let receiver) = entry.receiver else { return nil }
            return (entry.backend.name, receiver.connections, receiver.logins)
        }
    }

    /// One line per reference receiver: whether it got every record of `outbox` as it should.
    func check(outbox: Outbox) throws -> [(text: String, held: Bool)] {
        let records = try outbox.records().compactMap { $0.decodedRecord() }
        var lines: [(String, Bool)] = []
        for entry in entries {
            let label = "\(entry.backend.name) (\(entry.backend.wire.rawValue))"
            switch entry.receiver {
            case .external: continue
            case .ais140(let receiver):
                lines.append(
                    Self.checkAIS140(
                        receiver, records: records, emergencyOnly: entry.backend.emergencyOnly,
                        dialect: entry.backend.dialect, vendor: identity?.vendorID ?? BoxIdentity.defaultVendorID,
                        label: label)
                )
            case .osmand(let receiver): lines.append(Self.checkOsmAnd(receiver, records: records, label: label))
            }
        }
        return lines
    }

    static func checkAIS140(
        _ receiver: AIS140ReferenceReceiver, records: [Record], emergencyOnly: Bool,
        dialect: AIS140.Dialect = .traccar, vendor: String = BoxIdentity.defaultVendorID, label: String
    ) -> (String, Bool) {
        var problems: [String] = []
        let frames = receiver.frames
        if emergencyOnly {
            let emergencies = records.filter { $0.kind == .emergency }.count
            let helps = records.filter { $0.kind == .help }.count
            // C-DAC puts the vendor id before the type (`$,EPB,VENDOR,EMR,`); Traccar's decoder reads no position
            // from that layout, so the type field alone says emergency or help there.
            let prefix = dialect == .cdac ? "$,EPB,\(vendor)," : "$,EPB,"
            let epb = frames.filter { $0.text.hasPrefix(prefix + "EMR,") }
            let help = frames.filter { $0.text.hasPrefix(prefix + "HLP,") }
            if epb.count != emergencies {
                problems.append("\(epb.count) EPB,EMR frames for \(emergencies) emergencies")
            }
            if help.count != helps { problems.append("\(help.count) EPB,HLP frames for \(helps) help requests") }
            if dialect == .traccar, !epb.allSatisfy({ $0.position?.alarm == "sos" }) {
                problems.append("an EPB,EMR frame without the SOS alarm")
            }
            if help.contains(where: { $0.position?.alarm != nil }) {
                problems.append("a help request read as an alarm")
            }
            let text =
                "\(label): \(epb.count) emergencies as EPB,EMR each once with the SOS alarm, "
                + "\(help.count) help requests as EPB,HLP without it"
            return problems.isEmpty ? (text, true) : (text + ": " + problems.joined(separator: "; "), false)
        }
        // Tracking frames by frame number (the record's sequence number).
        var seen: [Int: [ITSFrameReader.Position]] = [:]
        var history: [Int] = []
        for frame in frames {
            guard let position = frame.position else { continue }
            let fields = frame.text.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count > 48, let number = Int(fields[48]) else { continue }
            seen[number, default: []].append(position)
            if position.archive, position.event == 2 { history.append(number) }
        }
        var alerts = 0
        var positions = 0
        var states = 0
        var fixKnown = false
        var withCells = 0
        var withSupply = 0
        let kinds = Dictionary(records.map { ($0.id, $0.kind) }, uniquingKeysWith: { first, _ in first })
        for record in records {
            var clearing: RecordKind?
            if case .cleared(let alert, _) = record.body { clearing = kinds[alert] }
            guard let tracking = AIS140.tracking(of: record, clearing: clearing) else { continue }
            let number = Int(record.sequence % 1_000_000)
            let got = seen[number] ?? []
            if got.count != 1 {
                problems.append("record \(record.sequence) (\(record.kind.rawValue)) arrived \(got.count) times")
                continue
            }
            let expected = ITSFrameReader.alarm(tracking.status.rawValue)
            if got[0].alarm != expected {
                problems.append("record \(record.sequence): alarm \(got[0].alarm ?? "none"), not \(expected ?? "none")")
            }
            // Help and emergency differ: the alert id and the emergency flag say which it was (and which one a
            // `cleared` record closed: 91 for help, 11 for an emergency).
            // Boot, restores and ignition too: their own ids (92–94, 7/8), never an emergency.
            if record.kind.isAlert || record.kind == .cleared || record.kind == .boot || record.kind == .restored
                || record.kind == .ignition,
                got[0].event != tracking.alert.rawValue || got[0].emergency != tracking.emergency
            {
                problems.append(
                    "record \(record.sequence) (\(record.kind.rawValue)): alert \(got[0].event ?? -1), "
                        + "emergency \(got[0].emergency ?? false)")
            }
            if record.kind == .ignition, got[0].ignition != (tracking.status == .ignitionOn) {
                problems.append("record \(record.sequence): ignition \(got[0].ignition.map(String.init) ?? "none")")
            }
            // A position at 0,0 once the box knew a fix (this record's, or an earlier one's) is a position in the
            // Atlantic.
            if let fix = record.fix, fix.latitude != 0 || fix.longitude != 0 { fixKnown = true }
            if fixKnown, got[0].latitude == 0, got[0].longitude == 0 {
                problems.append("record \(record.sequence) (\(record.kind.rawValue)) at 0,0 with a known fix")
            }
            if record.kind == .position {
                positions += 1
            } else if record.kind.isAlert {
                alerts += 1
            } else if record.kind == .boot || record.kind == .restored || record.kind == .ignition {
                states += 1
            }
            // The record's readings, as Traccar decodes them from the frame.
            if let problem = telemetryProblem(got[0], record.telemetry) {
                problems.append("record \(record.sequence) (\(record.kind.rawValue)): \(problem)")
            } else if record.telemetry?.radio?.serving != nil {
                withCells += 1
            }
            if record.telemetry?.supply?.mainVolts != nil { withSupply += 1 }
        }
        if history != history.sorted() { problems.append("the backlog (H) arrived out of order") }
        // C-DAC's health packet is a heartbeat carrying the health fields (the memory percentage; a keep-alive
        // heartbeat leaves it empty).
        // A login after the server was sent a position carries a position too, never 0,0.
        var positionSent = false
        for frame in frames {
            if let position = frame.position, position.latitude != 0 || position.longitude != 0 { positionSent = true }
            if positionSent, frame.text.hasPrefix("$,LGN,"), frame.text.contains(",0.000000,N,0.000000,E") {
                problems.append("a login at 0,0 after the server had the box's position")
                break
            }
        }
        let health = frames.filter { frame in
            guard dialect == .cdac else { return frame.text.hasPrefix("$,HLM,") }
            let fields = frame.text.split(separator: ",", omittingEmptySubsequences: false)
            return frame.text.hasPrefix("$,HBT,") && fields.count > 8 && fields[4] == "HP" && !fields[8].isEmpty
        }.count
        let text =
            "\(label): \(alerts) alerts once each with the right alarm, \(positions) positions once each "
            + "(\(history.count) from the backlog, in order), \(states) boot/restore/ignition frames with their ids, "
            + "\(health) health packets, \(withCells) frames with the modem's signal/operator/cell, \(withSupply) "
            + "with the supply voltage"
        return problems.isEmpty ? (text, true) : (text + ": " + problems.prefix(5).joined(separator: "; "), false)
    }

    /// What differs between a decoded tracking frame and the telemetry of the record it was made from, or nil.
    static func telemetryProblem(_ position: ITSFrameReader.Position, _ telemetry: Telemetry?) -> String? {
        let radio = telemetry?.radio
        let name = AIS140.operatorField(radio)
        if (position.operatorName ?? "") != name { return "operator \(position.operatorName ?? "none"), not \(name)" }
        if let volts = telemetry?.supply?.mainVolts, abs((position.power ?? -1) - volts) > 0.051 {
            return "main voltage \(position.power ?? -1), not \(volts)"
        }
        if let radio, let mcc = radio.mcc, let mnc = radio.mnc, let serving = radio.serving {
            let expected = ITSFrameReader.CellTower(
                mcc: mcc, mnc: mnc, lac: serving.lac, cellID: serving.cellID,
                signal: radio.signal ?? AIS140.unknownSignal)
            if position.cells?.first != expected { return "serving cell \(String(describing: position.cells?.first))" }
            let neighbours = radio.neighbours.filter { $0.lac > 0 && $0.cellID > 0 }.prefix(AIS140.neighbourSlots)
            if (position.cells?.count ?? 0) != 1 + neighbours.count { return "\(position.cells?.count ?? 0) cells" }
        } else if position.cells != nil {
            return "a cell block where the record has no serving cell"
        }
        return nil
    }

    static func checkOsmAnd(_ receiver: OsmAndReferenceReceiver, records: [Record], label: String) -> (String, Bool) {
        var problems: [String] = []
        var seen: [Int64: [[String: String]]] = [:]
        for request in receiver.requests {
            guard let sequence = request["seq"].flatMap({ Int64($0) }) else { continue }
            seen[sequence, default: []].append(request)
        }
        var alerts = 0
        var positions = 0
        for record in records where record.kind != .health {
            let got = seen[record.sequence] ?? []
            if got.count != 1 {
                problems.append("record \(record.sequence) (\(record.kind.rawValue)) arrived \(got.count) times")
                continue
            }
            if got[0]["alarm"] != OsmAnd.alarm(of: record) {
                problems.append("record \(record.sequence): alarm \(got[0]["alarm"] ?? "none")")
            }
            if case .ignition(let state, _) = record.body, got[0]["ignition"] != (state == .on ? "true" : "false") {
                problems.append("record \(record.sequence): ignition \(got[0]["ignition"] ?? "none")")
            }
            if record.kind == .position { positions += 1 } else if record.kind.isAlert { alerts += 1 }
        }
        let text = "\(label): \(alerts) alerts once each with the right alarm, \(positions) positions once each"
        return problems.isEmpty ? (text, true) : (text + ": " + problems.prefix(5).joined(separator: "; "), false)
    }
}

/// A receiver transport that goes through the simulated link: down, nothing is sent.
struct SwitchedReceiver: RecordTransport {
    let base: any RecordTransport
    let network: NetworkSwitch

    func deliver(_ records: [OutgoingRecord], timeout: Duration) async -> ReceiverReport {
        guard network.isUp else {
            linkLost()
            return ReceiverReport(acknowledged: 0, failure: "network unreachable (simulated outage)")
        }
        return await base.deliver(records, timeout: timeout)
    }

    func shutdown() async throws { try await base.shutdown() }

    func run() async { await base.run() }

    /// A real outage breaks a kept session (the TCP connection dies with the link): the AIS-140 session is hung
    /// up, so the box logs in again once the link is back.
    private func linkLost() { (base as? AIS140Transport)?.hangUp() }

    var keepAliveInterval: Duration? { base.keepAliveInterval }

    func keepAlive(timeout: Duration) async -> String? {
        guard network.isUp else {
            linkLost()
            return "network unreachable (simulated outage)"
        }
        return await base.keepAlive(timeout: timeout)
    }
}
