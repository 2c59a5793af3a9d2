import Foundation
import Logging
import PanicCore
import PanicSigning
import Testing

@testable import PanicUplink

@Suite("Request proofs follow the control room's verdict")
struct RequestAuthenticatorTests {
    let key = DeviceKey.generate()
    var device: String { RecordSigner(key: key).deviceID }
    let now = RecordTime(epochMilliseconds: 1_764_000_000_000)

    /// The time the authenticator's next proof claims.
    func signedTime(_ authenticator: RequestAuthenticator) throws -> RecordTime {
        let batch = try authenticator.sign(RecordBatch(device: device, envelopes: []), now: now)
        let claim = try BatchProof.verify(batch, key: RegisteredKey(device: device, identity: key.identity)).get()
        return claim.time
    }

    @Test("a stale verdict moves the proof clock; an unchecked answer is no verdict: acks not taken, clock kept")
    func staleThenUnchecked() throws {
        let authenticator = RequestAuthenticator(signer: BatchSigner(key: key), logger: Logger(label: "test"))
        let ahead = RecordTime(epochMilliseconds: now.epochMilliseconds + 600_000)
        #expect(authenticator.settle(nil, now: now))
        #expect(try signedTime(authenticator) == now)
        let stale = BatchAuthentication(verified: false, refusal: .stale, serverTime: ahead)
        #expect(!authenticator.settle(stale, now: now))
        #expect(try signedTime(authenticator) == ahead)
        // Far from the box's clock too, but not a verdict: the offset learnt from the stale refusal stays.
        let unchecked = BatchAuthentication.unchecked(serverTime: RecordTime(epochMilliseconds: 0))
        #expect(!authenticator.settle(unchecked, now: now))
        #expect(try signedTime(authenticator) == ahead)
        #expect(authenticator.settle(BatchAuthentication(verified: true, serverTime: ahead), now: now))
    }
}
