import Foundation
import PanicCore
import PanicSigning

extension ControlRoom {
    /// Registers a device with its public key (a JWK, or the raw key in base64url). A running server (in this
    /// process or another on the same database) trusts it from its next request.
    public func addDevice(id: String, publicKey text: String, by actor: AuditActor = .console) async throws {
        guard let identity = DeviceIdentity(publicKeyText: text) else { throw ControlRoomError.badPublicKey(text) }
        try await store.addDevice(id: id, identity: identity)
        try await auditSecurity(.deviceAdd, by: actor, subject: id, detail: "key \(identity.thumbprint)")
        changes.publish(ControlRoomChange([.registry, .audit], devices: [id]))
    }

    /// Removes a device from the registry (its stored records stay). Returns whether it was registered. A running
    /// server refuses its records and requests from its next request on: removal is revocation.
    @discardableResult
    public func removeDevice(id: String, by actor: AuditActor = .console) async throws -> Bool {
        let removed = try await store.removeDevice(id: id)
        if removed {
            try await auditSecurity(.deviceRemove, by: actor, subject: id)
            changes.publish(ControlRoomChange([.registry, .audit], devices: [id]))
        }
        return removed
    }

    /// One page of registered devices (`DevicePage`: its devices, their health, the next page's cursor), read in
    /// a fixed number of aggregate queries however large the fleet and its records.
    public func devicePage(_ request: DevicePageRequest = DevicePageRequest()) async throws -> DevicePage {
        DevicePage(try await store.devicePage(request))
    }

    /// Every registered device, with its record count, gaps and findings (page by page; the command line's list).
    public func devices() async throws -> [RegisteredDevice] {
        try await allPages { $0.devices }
    }

    /// `view` of every page of the registry, in id order.
    func allPages<T>(_ view: (DevicePage) -> [T]) async throws -> [T] {
        var result: [T] = []
        var request = DevicePageRequest(limit: DevicePageRequest.maxLimit)
        while true {
            let page = try await devicePage(request)
            result += view(page)
            guard let next = page.nextAfter else { return result }
            request.after = next
        }
    }
}
