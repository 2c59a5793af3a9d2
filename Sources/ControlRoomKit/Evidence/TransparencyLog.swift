import Crypto
import Foundation
import PanicSigning

/// The Merkle tree of the control room's evidence log (RFC 6962 / RFC 9162 section 2.1 hashing): a leaf's hash is
/// SHA-256(0x00 || leaf), an interior node's SHA-256(0x01 || left || right), the tree split at the largest power of
/// two below its size.
public enum MerkleTree {
    public static func leafHash(_ leaf: Data) -> Data {
        Data(SHA256.hash(data: Data([0]) + leaf))
    }

    static func nodeHash(_ left: Data, _ right: Data) -> Data {
        Data(SHA256.hash(data: Data([1]) + left + right))
    }

    /// The largest power of two smaller than `count` (count > 1).
    static func split(_ count: Int) -> Int {
        var k = 1
        while k << 1 < count { k <<= 1 }
        return k
    }

    /// MTH(D[n]) over leaf hashes; the hash of the empty string for no leaves.
    public static func root(_ hashes: ArraySlice<Data>) -> Data {
        switch hashes.count {
        case 0: return Data(SHA256.hash(data: Data()))
        case 1: return hashes[hashes.startIndex]
        default:
            let k = split(hashes.count)
            let middle = hashes.startIndex + k
            return nodeHash(root(hashes[..<middle]), root(hashes[middle...]))
        }
    }

    /// PATH(index, D[n]): the audit path of the leaf at `index`, nearest sibling first.
    public static func inclusionProof(index: Int, _ hashes: ArraySlice<Data>) -> [Data] {
        guard hashes.count > 1 else { return [] }
        let k = split(hashes.count)
        let middle = hashes.startIndex + k
        if index < k {
            return inclusionProof(index: index, hashes[..<middle]) + [root(hashes[middle...])]
        }
        return inclusionProof(index: index - k, hashes[middle...]) + [root(hashes[..<middle])]
    }
}

/// A C2SP `tlog-checkpoint` signed as a C2SP `signed-note` with an Ed25519 key: the body is the origin line, the
/// tree size in decimal and the root hash in standard base64, each ending in a newline; the signature line is
/// `— <key name> base64(key ID || signature)` with key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4].
public enum Checkpoint {
    /// The log's origin (also the key name): names the control room by its key's thumbprint.
    public static func origin(_ identity: DeviceIdentity) -> String {
        "panicbridge.controlroom/evidence/" + identity.thumbprint
    }

    public static func body(origin: String, size: Int, root: Data) -> String {
        "\(origin)\n\(size)\n\(root.base64EncodedString())\n"
    }

    public static func keyID(name: String, identity: DeviceIdentity) -> Data {
        Data(SHA256.hash(data: Data(name.utf8) + Data([0x0A, 0x01]) + identity.rawPublicKey).prefix(4))
    }

    /// The signed note: `body`, a blank line, one signature line.
    public static func sign(
        body: String, name: String, identity: DeviceIdentity, sign: (Data) throws -> Data
    ) throws -> String {
        let signature = try sign(Data(body.utf8))
        return body + "\n— \(name) " + (keyID(name: name, identity: identity) + signature).base64EncodedString() + "\n"
    }
}

/// `inclusion.json`: the bundle's leaf in the evidence log and its audit path to the checkpoint's root.
public struct EvidenceInclusion: Sendable, Hashable, Codable {
    /// The leaf text (`panicbridge-evidence/1 <device> <alert> <manifest sha256>`), hashed as an RFC 6962 leaf.
    public var leaf: String
    public var leafIndex: Int
    public var treeSize: Int
    /// The audit path, nearest sibling first, standard base64.
    public var hashes: [String]
    /// When the leaf was logged: `close` (when the alert closed, before any export: the leaf names the box's
    /// record that ended the alert's chain then) or `export` (the alert was still open at export: the leaf is
    /// this bundle's manifest).
    public var logged: Logged

    public enum Logged: String, Sendable, Codable {
        case close
        case export
    }

    /// The format of the leaf logged when an alert closes.
    public static let closeFormat = "panicbridge-alert/1"

    /// The leaf that logs an alert when it closes: the format, the device, the alert, and the sequence number and
    /// SHA-256 (hex) of the last record of its chain then (the box's `cleared` record, or the newest stored one);
    /// through the records' `prev` links it fixes every record before it.
    public static func closeLeaf(device: String, alert: String, seq: Int64, sha256: String) -> String {
        "\(closeFormat) \(device) \(alert) \(seq) \(sha256)"
    }

    /// The index of the newest leaf logging the close of this alert, if any.
    public static func closed(device: String, alert: String, in leaves: [String]) -> Int? {
        let prefix = "\(closeFormat) \(device) \(alert) "
        return leaves.lastIndex { $0.hasPrefix(prefix) && $0.dropFirst(prefix.count).split(separator: " ").count == 2 }
    }

    /// The leaf that logs one export: the format, the device, the alert and the manifest's SHA-256 (hex).
    public static func leaf(device: String, alert: String, manifest: Data) -> String {
        "\(EvidenceBundle.format) \(device) \(alert) \(EvidenceBundle.hex(SHA256.hash(data: manifest)))"
    }

    /// The proof for the leaf at `index` among `leaves` (the log up to the checkpoint, in order).
    public init(leaves: [String], index: Int, logged: Logged) {
        self.logged = logged
        let hashes = leaves.map { MerkleTree.leafHash(Data($0.utf8)) }
        leaf = leaves[index]
        leafIndex = index
        treeSize = leaves.count
        self.hashes = MerkleTree.inclusionProof(index: index, hashes[...]).map { $0.base64EncodedString() }
    }
}
