import Foundation
import PanicConfig
import PanicCore
import PanicSigning

/// The remote configuration on disk, beside the outbox (docs/configuration.md → *Remote configuration*):
/// the applied document as its signed JWS (`remote-config.jws`), the one before it (`remote-config.previous.jws`),
/// and `remote-config.state.json`: whether the applied one is still on probation (no backend has taken a batch
/// since it was applied) and the newest version the box reverted (never applied again). Each file is written to a
/// temporary name and renamed, so a power cut leaves the old or the new file, never half of one.
public struct RemoteConfigFiles: Sendable {
    public struct State: Sendable, Codable, Equatable {
        /// The applied document has not yet seen a backend take a batch: the box reverts it if none does in
        /// `remote_config.revert_after`.
        public var probation = false
        /// The newest version reverted (0: none); a document must be newer than this and the applied one.
        public var reverted = 0
        public init(probation: Bool = false, reverted: Int = 0) {
            self.probation = probation
            self.reverted = reverted
        }
    }

    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// Beside the outbox.
    public init(outboxPath: String) {
        self.init(directory: URL(fileURLWithPath: outboxPath).deletingLastPathComponent().path)
    }

    var currentPath: String { directory + "/remote-config.jws" }
    var previousPath: String { directory + "/remote-config.previous.jws" }
    var statePath: String { directory + "/remote-config.state.json" }
    /// The AIS-140 OTA `SET` commands applied since the signed document, in order (a JSON list of their texts),
    /// and the list before the last one was added (kept until a backend takes a batch, for the revert).
    var otaPath: String { directory + "/remote-config.ota.json" }
    var otaPreviousPath: String { directory + "/remote-config.ota.previous.json" }

    /// The AIS-140 OTA `SET` commands applied over the signed document (or the local file), oldest first.
    public var otaCommands: [String] { Self.commands(at: otaPath) ?? [] }

    static func commands(at path: String) -> [String]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode([String].self, from: data)
    }

    /// Applies an AIS-140 OTA `SET` (docs/uplink.md → *AIS-140 OTA commands*): its text is added to the OTA list,
    /// the list before it kept for the revert, and the box is on probation as after a signed document.
    public func applyOTA(_ command: String) throws {
        let before = otaCommands
        try write(String(decoding: try JSONEncoder().encode(before), as: UTF8.self), to: otaPreviousPath)
        try write(String(decoding: try JSONEncoder().encode(before + [command]), as: UTF8.self), to: otaPath)
        var state = state
        state.probation = true
        try write(state)
    }

    /// The applied document's JWS.
    public var current: String? { try? String(contentsOfFile: currentPath, encoding: .utf8) }
    /// The previous document's JWS.
    public var previous: String? { try? String(contentsOfFile: previousPath, encoding: .utf8) }

    public var state: State {
        guard let data = FileManager.default.contents(atPath: statePath),
            let state = try? JSONDecoder().decode(State.self, from: data)
        else { return State() }
        return state
    }

    /// The applied document's version (0: none), read without checking the signature (it was checked before it
    /// was written; `effective` checks it again at start).
    public var appliedVersion: Int { current.flatMap(Self.unverifiedVersion) ?? 0 }

    /// The version a new document must exceed: the applied one's and the newest reverted one's.
    public var newestVersion: Int { max(appliedVersion, state.reverted) }

    /// Applies `envelope`: the applied one becomes the previous, `envelope` the applied one, on probation.
    public func apply(_ envelope: String) throws {
        // A signed document supersedes the OTA changes made before it.
        for path in [otaPath, otaPreviousPath] where FileManager.default.fileExists(atPath: path) {
            try FileManager.default.removeItem(atPath: path)
        }
        if let current { try write(current, to: previousPath) }
        try write(envelope, to: currentPath)
        var state = state
        state.probation = true
        try write(state)
    }

    /// The applied one delivered: off probation.
    public func confirm() throws {
        if FileManager.default.fileExists(atPath: otaPreviousPath) {
            try FileManager.default.removeItem(atPath: otaPreviousPath)
        }
        var state = state
        guard state.probation else { return }
        state.probation = false
        try write(state)
    }

    /// Puts the previous document back (none: the local file alone) and remembers the reverted version, so the
    /// same document is never applied again. Returns the reverted version.
    @discardableResult
    public func revert() throws -> Int {
        let version = appliedVersion
        if let before = Self.commands(at: otaPreviousPath) {
            // The last change was an OTA command: the OTA list before it comes back; the document stays.
            if before.isEmpty {
                try FileManager.default.removeItem(atPath: otaPath)
            } else {
                try write(String(decoding: try JSONEncoder().encode(before), as: UTF8.self), to: otaPath)
            }
            try FileManager.default.removeItem(atPath: otaPreviousPath)
            var state = state
            state.probation = false
            try write(state)
            return version
        }
        if let previous {
            try write(previous, to: currentPath)
            try FileManager.default.removeItem(atPath: previousPath)
        } else if FileManager.default.fileExists(atPath: currentPath) {
            try FileManager.default.removeItem(atPath: currentPath)
        }
        try write(State(probation: false, reverted: max(state.reverted, version)))
        return version
    }

    /// The configuration to run: the local file with the applied document merged over it when that document
    /// still verifies against a key the local file pins and still merges; else the local file, with the reason.
    public func effective(
        local: DaemonConfig, localText: String, localBase: URL?, deviceID: String
    ) -> (config: DaemonConfig, version: Int, problem: String?) {
        let effective = effectiveText(local: local, localText: localText, localBase: localBase, deviceID: deviceID)
        return (effective.config, effective.version, effective.problem)
    }

    /// ``effective(local:localText:localBase:deviceID:)`` with the merged text (what an OTA command is mapped
    /// over): the signed document merged over the local file, then each OTA `SET` applied in order through the
    /// same merge. OTA changes that no longer apply are set aside with the reason; the document stays.
    public func effectiveText(
        local: DaemonConfig, localText: String, localBase: URL?, deviceID: String
    ) -> (text: String, config: DaemonConfig, version: Int, problem: String?) {
        var (text, config, version, problem) = (localText, local, 0, String?.none)
        if let current {
            switch RemoteConfigGate.verify(current, verifiers: RemoteConfigGate.verifiers(local)) {
            case .failure(let refusal):
                problem = "the applied remote configuration no longer verifies: \(refusal)"
            case .success(let document):
                if let device = document.device, device != deviceID {
                    problem = "the applied remote configuration is for device \(device)"
                } else {
                    switch RemoteOverlay.merge(overlay: document.settings, over: localText, relativeTo: localBase) {
                    case .failure(let refusal):
                        problem = "the applied remote configuration no longer merges: \(refusal)"
                    case .success(let merged): (text, config, version) = (merged.text, merged.config, document.version)
                    }
                }
            }
            if problem != nil { return (localText, local, 0, problem) }
        }
        var (otaText, otaConfig) = (text, config)
        for command in otaCommands {
            let outcome = AIS140.OTA.parse(command).mapError { AIS140OTAMapper.Refusal($0.description) }
                .flatMap { AIS140OTAMapper.map($0, currentText: otaText, relativeTo: localBase) }
            guard case .success(.change(let change)) = outcome else {
                return (text, config, version, "the AIS-140 OTA change '\(command)' no longer applies")
            }
            (otaText, otaConfig) = (change.mergedText, change.config)
        }
        return (otaText, otaConfig, version, nil)
    }

    static func unverifiedVersion(_ envelope: String) -> Int? {
        guard let parsed = try? Envelope(envelope),
            let document = try? JSONDecoder().decode(ConfigDocument.self, from: parsed.payload)
        else { return nil }
        return document.version
    }

    func write(_ state: State) throws {
        let data = try JSONEncoder().encode(state)
        try write(String(decoding: data, as: UTF8.self), to: statePath)
    }

    func write(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}

/// Waits, after a remote configuration is applied, for any backend to take a batch; reverts it when none does in
/// time. The clock is injected (ManualClock in tests).
public enum RemoteConfigProbation {
    public enum Outcome: Sendable, Equatable {
        /// A backend took a batch in time.
        case delivered
        /// None did within the time.
        case timedOut
        /// The watch was cancelled (the daemon stops): decide again at the next start.
        case cancelled
    }

    /// Races the first element of `deliveries` against `within` on `clock`.
    public static func watch<Deliveries: AsyncSequence & Sendable>(
        deliveries: Deliveries, within: Duration, clock: any MonotonicClock
    ) async -> Outcome where Deliveries.Element: Sendable {
        await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do { try await clock.sleep(for: within) } catch { return nil }
                return .timedOut
            }
            group.addTask {
                do {
                    for try await _ in deliveries { return .delivered }
                } catch {}
                return nil
            }
            var outcome: Outcome?
            for await result in group {
                if let result {
                    outcome = result
                    break
                }
            }
            group.cancelAll()
            return outcome ?? .cancelled
        }
    }
}
