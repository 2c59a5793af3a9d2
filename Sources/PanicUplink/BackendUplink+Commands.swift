import Foundation
import Logging
import NIOPosix
import PanicCore
import PanicSigning

/// An answer's commands: at most `RecordBatchResponse.maximumCommands` checked, their signatures on the blocking
/// pool (never under the alert desk's lock, never on a thread every task shares), judged on the control room's
/// clock, and one log line per answer with refusals, whatever their number. A hostile server (a second backend, or
/// anyone on the path of an `http://` one) answering with thousands of forged commands costs the box at most 32
/// signature checks per answer (after a read capped at `RecordBatchResponse.maximumBytes`), and the log one line.
extension BackendUplink {
    func takeCommands(_ commands: [String], owner: Uplink) async {
        guard !commands.isEmpty else { return }
        defer { owner.pollStateChanged() }
        guard let verifier else {
            let refusal = CommandRejection.noPinnedKey(backend: configuration.name)
            logger.warning(
                "commands refused", metadata: ["commands": "\(commands.count)", "reason": "\(refusal)"])
            desk.refused(
                nonces: commands.prefix(RecordBatchResponse.maximumCommands).map(Self.unverifiedNonce),
                kind: refusal.kind)
            commandsChecked(AlertDesk.Handled(refusals: [refusal]))
            return
        }
        let budget = RecordBatchResponse.maximumCommands
        let checking = Array(commands.prefix(budget))
        let verify: @Sendable () -> [Result<ControlRoomMessage, CommandSignatureError>] = {
            checking.map { text in Result { () throws(CommandSignatureError) in try verifier.verifyMessage(text) } }
        }
        let messages: [Result<ControlRoomMessage, CommandSignatureError>]
        do { messages = try await NIOThreadPool.singleton.runIfActive(verify) } catch { messages = verify() }
        let now = requests.controlRoomTime(wallClock())
        // Configuration documents go to the daemon (one home for applying a configuration); the rest are commands.
        var verified: [Result<ControlCommand, CommandSignatureError>] = []
        for (text, message) in zip(checking, messages) {
            switch message {
            case .success(.config(let document)):
                logger.notice(
                    "configuration document received",
                    metadata: ["version": "\(document.version)", "backend": "\(configuration.name)"])
                owner.configSink.yield(
                    ReceivedConfig(
                        document: document, envelope: text, backend: configuration.name, controlRoomTime: now))
            case .success(.update(let document)):
                logger.notice(
                    "update document received",
                    metadata: ["version": "\(document.version)", "backend": "\(configuration.name)"])
                let (requests, wallClock, url, trust) = (requests, wallClock, configuration.url, configuration.trust)
                owner.updateSink.yield(
                    ReceivedUpdate(
                        document: document, envelope: text, backend: configuration.name, controlRoomTime: now,
                        download: { path in
                            let proof = try requests.downloadProof(sha256: document.sha256, now: wallClock())
                            try await PackageDownload.fetch(
                                document, from: url, trust: trust, proof: proof, to: path)
                        }))
            case .success(.command(let command)): verified.append(.success(command))
            case .failure(let error): verified.append(.failure(error))
            }
        }
        // A command whose signature failed still names its nonce: the control room is told which one was refused.
        let nonces = zip(checking, messages).compactMap { text, message -> String?? in
            switch message {
            case .success(.config), .success(.update): nil
            case .success(.command(let command)): .some(command.nonce)
            case .failure: .some(Self.unverifiedNonce(text))
            }
        }
        let handled = desk.handle(commands: verified, nonces: nonces, backend: configuration.name, now: now)
        for alert in handled.clears { owner.appendCleared(alert) }
        let unchecked = commands.count - checking.count
        if !handled.refusals.isEmpty || unchecked > 0 {
            var reasons: [String: Int] = [:]
            for refusal in handled.refusals { reasons[refusal.kind, default: 0] += 1 }
            var metadata: Logger.Metadata = [
                "commands": "\(commands.count)", "checked": "\(checking.count)", "accepted": "\(handled.accepted)",
                "refused": "\(handled.refusals.count)",
                "reasons":
                    "\(reasons.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            ]
            if unchecked > 0 { metadata["unchecked"] = "\(unchecked)" }
            if let first = handled.refusals.first { metadata["first"] = "\(first)" }
            logger.warning(
                unchecked > 0
                    ? "answer carried more commands than a control room sends: the rest left unchecked"
                    : "commands refused",
                metadata: metadata)
        }
        commandsChecked(handled)
    }
}

extension BackendUplink {
    /// The `nonce` a command's payload claims, read without checking its signature (to name a refused command to
    /// the control room: it matches the nonce against its own commands only), or nil when there is none.
    static func unverifiedNonce(_ text: String) -> String? {
        struct Claim: Decodable { var nonce: String? }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]),
            let nonce = (try? JSONDecoder().decode(Claim.self, from: payload))?.nonce,
            CommandRefusalReport(nonce: nonce, reason: "forged").isWellFormed
        else { return nil }
        return nonce
    }
}

extension CommandRejection {
    /// The refusal's name, for counting.
    var kind: String {
        switch self {
        case .forged: "forged"
        case .noPinnedKey: "no-pinned-key"
        case .wrongDevice: "wrong-device"
        case .expired: "expired"
        case .replayed: "replayed"
        case .unknownAlert: "unknown-alert"
        case .stale: "stale"
        }
    }
}
