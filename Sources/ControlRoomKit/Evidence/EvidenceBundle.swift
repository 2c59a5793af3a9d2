import Crypto
import Foundation
import PanicCore
import PanicSigning

/// What an evidence export reads from the store about one alert (the store only reads; `EvidenceBundle` decides).
public struct EvidenceSource: Sendable {
    /// The alert.
    public var alert: AlertView
    /// The device's registered key (nil when it was removed from the registry since).
    public var key: DeviceIdentity?
    /// What the desk knows of the device (name, registration, ...).
    public var metadata: DeviceMetadata?
    /// Every stored envelope of the device, in sequence order.
    public var envelopes: [String]
    /// The alert's audit lines (accept, dispatch, notes, clear, ...), oldest first.
    public var audit: [AuditEntry]
    /// The device's registration history: the audit lines whose subject is the device (added, removed, renamed,
    /// metadata edited), oldest first.
    public var registration: [AuditEntry]
    /// The commands the control room signed about the alert, in the order issued.
    public var commands: [StoredCommand]

    public init(
        alert: AlertView, key: DeviceIdentity?, metadata: DeviceMetadata?, envelopes: [String], audit: [AuditEntry],
        registration: [AuditEntry], commands: [StoredCommand]
    ) {
        self.alert = alert
        self.key = key
        self.metadata = metadata
        self.envelopes = envelopes
        self.audit = audit
        self.registration = registration
        self.commands = commands
    }
}

/// Why an export could not be made.
public enum EvidenceError: Error, Equatable, CustomStringConvertible {
    case unknownAlert(String)
    case ambiguousAlert(String, devices: [String])
    case noRecords(alert: String)
    case badWindow(String)
    case badOutput(String)

    public var description: String {
        switch self {
        case .unknownAlert(let id): "no alert '\(id)' is stored"
        case .ambiguousAlert(let id, let devices):
            "alert id '\(id)' is stored for several devices (\(devices.joined(separator: ", "))): give --device"
        case .noRecords(let alert): "the alert's own record (\(alert)) is not among the device's stored records"
        case .badWindow(let text): "bad time window: \(text)"
        case .badOutput(let text): "cannot write the bundle: \(text)"
        }
    }
}

/// One record's place in the chain proof.
public struct EvidenceChainLink: Sendable, Hashable, Codable {
    public enum Link: String, Sendable, Codable {
        /// `prev` is the SHA-256 of the bundled record before it.
        case linked
        /// Sequence 1 with no `prev`.
        case first
        /// The first record of the window: its predecessor is stored but before the window; `prev` names it.
        case windowStart = "window-start"
        /// The record before it was never received (a gap, listed in `gaps`).
        case afterGap = "after-gap"
        /// `prev` does not match the record before it (the control room recorded a broken chain).
        case broken
    }

    public var seq: Int64
    public var id: String
    public var kind: String
    public var time: String
    /// SHA-256 of the envelope text, base64url (the value the next record carries as `prev`).
    public var hash: String
    /// The same digest in hex (as `sha256sum` prints it).
    public var sha256: String
    public var prev: String?
    public var link: Link
}

/// The chain proof file (`chain.json`).
public struct EvidenceChain: Sendable, Hashable, Codable {
    public var device: String
    public var alert: String
    /// The window: records from `from` (the press minus the configured time before it) to the clear.
    public var from: String
    public var pressed: String
    public var firstSeq: Int64
    public var lastSeq: Int64
    /// The sequence number of the box's `cleared` record for the alert, when it arrived.
    public var clearedSeq: Int64?
    public var records: [EvidenceChainLink]
    /// Sequence numbers between `firstSeq` and `lastSeq` the control room never received, as [from, to].
    public var gaps: [[Int64]]
}

/// An evidence bundle for one alert: named files with deterministic bytes (the same alert exported twice gives the
/// same record, chain and device files; the audit lines' Ed25519 signatures are deterministic too).
///
/// Layout (docs/evidence.md): `records.jws` (one compact JWS per line, as the box signed it, in sequence order),
/// `chain.json`, `device.json`, `registration.jws` and `audit.jws` (each line the JSON of one audit line signed by
/// the control room's key as a compact JWS), `commands.json` (the signed commands and whether the box acknowledged
/// them), `controlroom.jwk`, `manifest.json` (every other file with its SHA-256) and `manifest.jws` (the manifest
/// signed by the control room's key).
public struct EvidenceBundle: Sendable {
    /// Files by name, excluding the manifest and its signature.
    public var files: [String: Data]
    /// The chain proof (also in `chain.json`).
    public var chain: EvidenceChain
    public var manifest: Data
    public var manifestSignature: String
    /// Files made over the manifest after it (the evidence log's checkpoint and inclusion proof, the RFC 3161
    /// timestamp token), so not listed in it.
    public var attachments: [String: Data] = [:]

    /// Every file, the manifest and its signature included, sorted by name.
    public var allFiles: [(name: String, data: Data)] {
        var all = files.merging(attachments) { first, _ in first }
        all["manifest.json"] = manifest
        all["manifest.jws"] = Data((manifestSignature + "\n").utf8)
        return all.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The format name `manifest.json` carries.
    public static let format = "panicbridge-evidence/1"

    /// Chooses the records and builds the chain proof: every stored record of the device from the first one made
    /// within `before` of the press (or the press itself) to the box's `cleared` record of the alert (or the
    /// newest stored one while it has none), with every missing sequence number stated.
    public static func chain(_ source: EvidenceSource, before: Duration) throws -> (EvidenceChain, [String]) {
        let alert = source.alert
        guard let pressed = RecordTime(rfc3339: alert.pressed) else {
            throw EvidenceError.badWindow("the alert's press time '\(alert.pressed)' is not RFC 3339")
        }
        let beforeMs = before.components.seconds * 1000 + before.components.attoseconds / 1_000_000_000_000_000
        guard beforeMs >= 0 else { throw EvidenceError.badWindow("the time before the press is negative") }
        let from = RecordTime(epochMilliseconds: pressed.epochMilliseconds - beforeMs)
        var parsed: [(envelope: String, record: Record)] = []
        for text in source.envelopes {
            guard let envelope = try? Envelope(text),
                let record = try? Record.decode(json: envelope.payload)
            else { continue }
            parsed.append((text, record))
        }
        parsed.sort { $0.record.sequence < $1.record.sequence }
        guard parsed.contains(where: { $0.record.sequence == alert.sequence }) else {
            throw EvidenceError.noRecords(alert: alert.id)
        }
        let clearedSeq = parsed.first { item in
            guard item.record.sequence > alert.sequence, case .cleared(let cleared, _) = item.record.body else {
                return false
            }
            return cleared == alert.id
        }?.record.sequence
        let firstSeq =
            parsed.first { $0.record.sequence <= alert.sequence && $0.record.time >= from }?.record.sequence
            ?? alert.sequence
        let lastSeq = clearedSeq ?? parsed.last?.record.sequence ?? alert.sequence
        let chosen = parsed.filter { (firstSeq...lastSeq).contains($0.record.sequence) }
        var links: [EvidenceChainLink] = []
        var gaps: [[Int64]] = []
        var previous: (seq: Int64, hash: String)?
        for item in chosen {
            let record = item.record
            let hash = Envelope.hash(item.envelope)
            let link: EvidenceChainLink.Link
            let expected = (previous?.seq ?? firstSeq - 1) + 1
            if record.sequence > expected, previous != nil || record.sequence != firstSeq {
                gaps.append([expected, record.sequence - 1])
            }
            if let previous, previous.seq == record.sequence - 1 {
                link = record.previousHash == previous.hash ? .linked : .broken
            } else if record.sequence == 1 {
                link = record.previousHash == nil ? .first : .broken
            } else if previous == nil && record.sequence == firstSeq {
                link = .windowStart
            } else {
                link = .afterGap
            }
            links.append(
                EvidenceChainLink(
                    seq: record.sequence, id: record.id, kind: record.kind.rawValue, time: record.time.description,
                    hash: hash, sha256: hex(SHA256.hash(data: Data(item.envelope.utf8))), prev: record.previousHash,
                    link: link))
            previous = (record.sequence, hash)
        }
        let chain = EvidenceChain(
            device: alert.device, alert: alert.id, from: from.description, pressed: alert.pressed, firstSeq: firstSeq,
            lastSeq: lastSeq, clearedSeq: clearedSeq, records: links, gaps: gaps)
        return (chain, chosen.map(\.envelope))
    }

    /// Assembles the bundle; `sign` signs payload bytes with the control room's key (a compact JWS).
    public static func assemble(
        _ source: EvidenceSource, before: Duration, controlRoom: DeviceIdentity,
        sign: (Data) throws -> String
    ) throws -> EvidenceBundle {
        let (chain, envelopes) = try chain(source, before: before)
        var files: [String: Data] = [:]
        files["records.jws"] = Data(envelopes.map { $0 + "\n" }.joined().utf8)
        files["chain.json"] = try json(chain)
        files["device.json"] = try json(
            EvidenceDevice(
                id: source.alert.device, kid: source.key?.thumbprint, jwk: source.key.map { jwkObject($0) },
                metadata: source.metadata))
        files["audit.jws"] = try signedLines(source.audit, sign: sign)
        files["registration.jws"] = try signedLines(source.registration, sign: sign)
        files["commands.json"] = try json(
            source.commands.map {
                EvidenceCommand(nonce: $0.nonce, action: $0.action, jws: $0.envelope, acked: $0.acked)
            }
        )
        files["controlroom.jwk"] = try json(jwkObject(controlRoom))
        let manifest = try json(
            EvidenceManifest(
                format: format, device: source.alert.device, alert: source.alert.id,
                controlRoomKey: controlRoom.thumbprint, deviceKey: source.key?.thumbprint,
                files: files.sorted { $0.key < $1.key }.map {
                    EvidenceManifest.File(path: $0.key, sha256: hex(SHA256.hash(data: $0.value)), bytes: $0.value.count)
                }))
        return EvidenceBundle(files: files, chain: chain, manifest: manifest, manifestSignature: try sign(manifest))
    }

    static func signedLines(_ entries: [AuditEntry], sign: (Data) throws -> String) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Data(try entries.map { try sign(try encoder.encode($0)) + "\n" }.joined().utf8)
    }

    static func json<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    static func jwkObject(_ identity: DeviceIdentity) -> [String: String] {
        ["crv": "Ed25519", "kty": "OKP", "x": identity.publicKeyBase64URL]
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String($0, radix: 16).leftPadded(2) }.joined()
    }

    /// The bundle as a POSIX ustar archive with fixed owner, mode and time, so the same files give the same bytes.
    public var tar: Data {
        var archive = Data()
        for (name, data) in allFiles {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int) {
                for (index, byte) in text.utf8.enumerated() { header[offset + index] = byte }
            }
            func octal(_ value: Int, width: Int) -> String {
                String(String(value, radix: 8).leftPadded(width - 1))
            }
            put(name, at: 0)
            put(octal(0o644, width: 8), at: 100)
            put(octal(0, width: 8), at: 108)
            put(octal(0, width: 8), at: 116)
            put(octal(data.count, width: 12), at: 124)
            put(octal(0, width: 12), at: 136)
            put("        ", at: 148)
            put("0", at: 156)
            put("ustar", at: 257)
            put("00", at: 263)
            let checksum = header.reduce(0) { $0 + Int($1) }
            put(String(checksum, radix: 8).leftPadded(6), at: 148)
            header[154] = 0
            header[155] = UInt8(ascii: " ")
            archive.append(contentsOf: header)
            archive.append(data)
            archive.append(contentsOf: [UInt8](repeating: 0, count: (512 - data.count % 512) % 512))
        }
        archive.append(contentsOf: [UInt8](repeating: 0, count: 1024))
        return archive
    }

    /// Writes the bundle to `path`: a `.tar` archive when the name ends so, else a new directory (which must not
    /// exist or be empty).
    public func write(to path: String) throws {
        let manager = FileManager.default
        if path.hasSuffix(".tar") {
            guard !manager.fileExists(atPath: path) else { throw EvidenceError.badOutput("\(path) already exists") }
            guard manager.createFile(atPath: path, contents: tar) else {
                throw EvidenceError.badOutput("could not create \(path)")
            }
            return
        }
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try manager.contentsOfDirectory(atPath: path)).isEmpty else {
                throw EvidenceError.badOutput("\(path) exists and is not an empty directory")
            }
        } else {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        for (name, data) in allFiles {
            guard manager.createFile(atPath: path + "/" + name, contents: data) else {
                throw EvidenceError.badOutput("could not create \(path)/\(name)")
            }
        }
    }
}

/// `device.json`.
struct EvidenceDevice: Codable {
    var id: String
    var kid: String?
    var jwk: [String: String]?
    var metadata: DeviceMetadata?
}

/// One entry of `commands.json`.
struct EvidenceCommand: Codable {
    var nonce: String
    var action: String
    /// The compact JWS the control room signed and the box received.
    var jws: String
    /// Whether the box acknowledged it (in an authenticated batch).
    var acked: Bool
}

/// `manifest.json`.
struct EvidenceManifest: Codable {
    struct File: Codable {
        var path: String
        var sha256: String
        var bytes: Int
    }
    var format: String
    var device: String
    var alert: String
    /// The control room key's RFC 7638 thumbprint (compare with the published one).
    var controlRoomKey: String
    var deviceKey: String?
    var files: [File]
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
