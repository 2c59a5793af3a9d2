import Foundation
import PanicConfig
import PanicCore
import PanicLinux
import PanicSigning

/// `panicd config check` (like `sshd -t`): every problem of a configuration, its board file and its device key,
/// found with the same checks `panicd run` makes, and without starting anything — no outbox is opened, no
/// hardware requested, no socket bound.
public struct ConfigCheck: Sendable {
    /// What was found: problems (each a line naming the file) and, for a usable configuration, what it describes.
    public struct Report: Sendable {
        public var problems: [String] = []
        /// What would run but not as a panic box should (`panicd run` starts; it logs the same at start).
        public var warnings: [String] = []
        public var summary: [String] = []
        public var isValid: Bool { problems.isEmpty }
    }

    /// Checks the configuration at `path`.
    public static func run(
        path: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Report {
        var report = Report()
        let (loaded, configProblems) = DaemonConfig.load(path: path)
        guard let config = loaded else {
            report.problems = configProblems.map { "\(path): \($0)" }
            return report
        }
        report.summary.append("config \(path)")

        var board: BoardDefinition?
        do {
            board = try BoardFile.loadValid(path: config.boardFile)
        } catch {
            report.problems += error.problems.map { "board file \(config.boardFile): \($0)" }
        }
        if let board {
            report.summary.append(
                "board \(board.id) (\(config.boardFile)): backend \(board.backend.rawValue), "
                    + "\(board.inputs.count) input(s), \(board.outputs.count) output(s)")
        }
        // A GPIO board needs libgpiod at run time (panicd opens it then; it is not linked in).
        if let board, board.backend == .gpiod {
            do {
                let library = try GPIODLibrary.load(environment: environment)
                report.summary.append("libgpiod: \(library.api), opened as \(library.path)")
            } catch {
                report.problems.append("board \(board.id) (\(config.boardFile)) needs libgpiod: \(error)")
            }
        }

        var keyDevice: String?
        do {
            let key = try DeviceKey.load(path: config.keyFile)
            let deviceID = key.identity.deviceID
            keyDevice = deviceID
            if let configured = config.deviceID, configured != deviceID {
                report.problems.append(
                    "\(path): device_id \(configured) does not match the key \(config.keyFile), whose device id is "
                        + "\(deviceID); remove device_id or use the key registered for \(configured)")
            }
            report.summary.append("device \(deviceID) (key \(config.keyFile))")
        } catch {
            report.problems.append("\(error)")
        }

        // The remote configuration `panicd run` merges over this file (the checks below are of the file itself).
        let remote = RemoteConfigFiles(outboxPath: config.outboxPath)
        if let keyDevice, remote.current != nil {
            let effective = remote.effective(
                local: config, localText: (try? String(contentsOfFile: path, encoding: .utf8)) ?? "",
                localBase: RemoteOverlay.base(ofFile: path), deviceID: keyDevice)
            if let problem = effective.problem {
                report.warnings.append("\(remote.currentPath): \(problem): panicd runs the local file alone")
            } else {
                report.summary.append(
                    "remote configuration version \(effective.version) merged over it (\(remote.currentPath))"
                        + (remote.state.probation ? ", on probation" : ""))
            }
        }

        for (index, backend) in config.backends.enumerated() {
            do {
                _ = try Daemon.backendConfiguration(backend, index: index, config: config, deviceID: "")
                let wire =
                    backend.wire == .panicbridge
                    ? "" : " (\(backend.wire.rawValue)\(backend.emergencyOnly ? ", emergencies only" : ""))"
                report.summary.append(
                    "backend \(backend.name): \(backend.url.absoluteString)\(wire), role \(backend.effectiveRole.rawValue)"
                )
            } catch {
                report.problems.append("\(path): \(error)")
            }
            if let ca = backend.caFile, !FileManager.default.isReadableFile(atPath: ca) {
                report.problems.append("\(path): backends[\(index)].ca: cannot read the CA file \(ca)")
            }
        }
        if config.backends.isEmpty {
            report.summary.append("no backends: records are kept in the outbox only")
        }
        if let warning = Daemon.noAuthorityWarning(config) { report.warnings.append("\(path): \(warning)") }
        if let warning = Daemon.smsWarning(config) { report.warnings.append("\(path): \(warning)") }
        if let sms = config.sms {
            let described = { (numbers: [String]) in
                numbers.map { "\($0) (\((sms.formats[$0] ?? .fields).rawValue))" }.joined(separator: ", ")
            }
            report.summary.append(
                "sms via \(sms.port): alerts to \(described(sms.numbers)); tamper to "
                    + (sms.tamperNumbers.isEmpty ? "nobody (no tamper_numbers)" : described(sms.tamperNumbers)))
        }

        if let board {
            for warning in Daemon.telemetryWarnings(config, board: board) {
                report.warnings.append("\(config.boardFile): \(warning)")
            }
        }
        report.problems += directoryProblems(config: config, path: path)
        if let board, board.backend == .simulated {
            let route = Daemon.simulatedRoutePath(boardFile: config.boardFile, environment: environment)
            if !FileManager.default.isReadableFile(atPath: route) {
                report.problems.append(
                    "route \(route) for the simulated board: cannot read it (set \(Daemon.simRouteVariable))")
            }
        }
        report.summary.append("outbox \(config.outboxPath) (at most \(config.outboxMaxRecords) records)")
        report.summary.append("status socket \(config.statusSocket)")
        return report
    }

    /// The outbox and status-socket directories must exist or be creatable (the daemon creates the outbox's).
    static func directoryProblems(config: DaemonConfig, path: String) -> [String] {
        var problems: [String] = []
        let outboxDirectory = URL(fileURLWithPath: config.outboxPath).deletingLastPathComponent().path
        if !existsOrCreatable(outboxDirectory) {
            problems.append("\(path): outbox.path: the directory \(outboxDirectory) does not exist and cannot be made")
        }
        let socketDirectory = URL(fileURLWithPath: config.statusSocket).deletingLastPathComponent().path
        // /run/panicd is made by systemd (RuntimeDirectory=) when the unit starts; only a custom path is checked.
        if config.statusSocket != DaemonConfig.defaultStatusSocket, !existsOrCreatable(socketDirectory) {
            problems.append(
                "\(path): status_socket: the directory \(socketDirectory) does not exist and cannot be made")
        }
        return problems
    }

    static func existsOrCreatable(_ directory: String) -> Bool {
        var isDirectory: ObjCBool = false
        var current = directory
        while !FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
            let parent = URL(fileURLWithPath: current).deletingLastPathComponent().path
            if parent == current { return false }
            current = parent
        }
        return isDirectory.boolValue
    }
}
