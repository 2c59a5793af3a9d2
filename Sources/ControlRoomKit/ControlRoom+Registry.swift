import Foundation
import Logging
import PanicCore
import PanicSQLite
import PanicSigning

extension ControlRoom {
    /// Registers a device with its public key (a JWK, or the raw key in base64url). A running server (in this
    /// process or another on the same database) trusts it from its next request.
    public func addDevice(id: String, publicKey text: String) throws {
        guard let identity = DeviceIdentity(publicKeyText: text) else { throw ControlRoomError.badPublicKey(text) }
        try registry.add(id: id, identity: identity)
    }

    /// Removes a device from the registry (its stored records stay). Returns whether it was registered. A running
    /// server refuses its records and requests from its next request on: removal is revocation.
    @discardableResult
    public func removeDevice(id: String) throws -> Bool { try registry.remove(id: id) }

    /// Every registered device, with its record count, gaps and findings.
    public func devices() throws -> [RegisteredDevice] {
        try state.withLock { state in
            let query = try state.statement("SELECT id, kid, jwk FROM devices ORDER BY id")
            var result: [RegisteredDevice] = []
            try query.bind([])
            while try query.step() {
                result.append(
                    RegisteredDevice(
                        id: query.text(0), keyID: query.text(1), jwk: query.text(2), records: 0, gaps: [],
                        findings: []))
            }
            query.reset()
            for index in result.indices {
                let device = result[index].id
                result[index].records = try recordCount(device: device, state)
                result[index].gaps = try gaps(device: device, state).map {
                    $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
                }
                let findings = try state.statement("SELECT seq, finding FROM findings WHERE device = ?1 ORDER BY seq")
                try findings.bind([.text(device)])
                while try findings.step() {
                    result[index].findings.append("\(findings.text(1)) seq \(findings.integer(0))")
                }
                findings.reset()
            }
            return result
        }
    }
}
