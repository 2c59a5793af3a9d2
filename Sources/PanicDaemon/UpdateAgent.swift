import Foundation
import Logging
import PanicConfig
import PanicCore
import PanicSigning
import PanicUplink

#if canImport(Glibc)
    import Glibc
#endif

/// The root install agent (`panicd update install`, run by `panicbridge-update.service` when panicd spools an
/// update; docs/updates.md). It trusts nothing the panicd user wrote: it copies the spooled document and package
/// into its own directory (never following a link), checks the document's signature against the key the local file
/// pins, the device, the expiry, that the version is newer than the installed one and not below the floor kept in
/// its own state, the architecture, and the package's size, SHA-256 and control fields. It keeps the installed
/// package for rollback (rebuilding it from the installed files when it has none), runs `dpkg -i`, restarts panicd
/// and waits for proof that the new panicd is armed and delivered to a backend; without that proof in time it
/// installs the previous package again and restarts panicd. A version that proves healthy becomes the floor.
public struct UpdateAgent: Sendable {
    public struct Options: Sendable {
        /// The local `panicd.yaml` (the pinned control-room keys, the device key, the group, the outbox and so the
        /// spool, the status socket).
        public var configPath: String
        /// The agent's own directory (root's): `state.json`, `current.deb`, the copies it checks.
        public var stateDirectory: String = UpdateAgentState.defaultDirectory
        /// How long the new panicd has to prove itself healthy.
        public var healthTimeout: Duration = .seconds(300)
        /// How panicd is restarted (`systemctl restart panicd.service`: with `Type=notify` it returns once the
        /// daemon said READY). The install test passes its own, where systemd is not PID 1.
        public var restartCommand: [String] = ["/bin/systemctl", "restart", "panicd.service"]
        public var dpkg = "/usr/bin/dpkg"
        public var dpkgDeb = "/usr/bin/dpkg-deb"
        public var dpkgQuery = "/usr/bin/dpkg-query"
        /// dpkg's status file (the installed version).
        public var dpkgStatus = "/var/lib/dpkg/status"

        public init(configPath: String) { self.configPath = configPath }
    }

    /// What became of a spooled update.
    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case nothingSpooled
        case refused(String)
        case installed(String)
        case rolledBack(version: String, to: String, why: String)
        case failed(String)

        public var description: String {
            switch self {
            case .nothingSpooled: "nothing spooled"
            case .refused(let why): "refused: \(why)"
            case .installed(let version): "installed \(version), healthy"
            case .rolledBack(let version, let to, let why): "rolled back \(version) to \(to): \(why)"
            case .failed(let why): "failed: \(why)"
            }
        }
    }

    public let options: Options
    let logger: Logger

    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    var installedVersion: String { InstalledSoftware.packageVersion(statusFile: options.dpkgStatus) }

    /// Handles whatever is spooled; returns (and records in `state.json`) the outcome.
    public func run() throws -> Outcome {
        let (loaded, problems) = DaemonConfig.load(path: options.configPath)
        guard let local = loaded else {
            throw DaemonError(
                "cannot load \(options.configPath): \(problems.map(\.description).joined(separator: "; "))")
        }
        let spool = UpdateSpool(outboxPath: local.outboxPath)
        try FileManager.default.createDirectory(
            atPath: options.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let incoming = options.stateDirectory + "/incoming"
        try? FileManager.default.removeItem(atPath: incoming)
        try FileManager.default.createDirectory(
            atPath: incoming, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: incoming) }
        // Copies, never following a link the panicd user may have put there; then the spool is emptied (the path
        // unit would start the agent again while a document is there).
        let envelopeCopy = incoming + "/update.jws"
        let packageCopy = incoming + "/update.deb"
        let copied =
            Self.copyNoFollow(spool.documentPath, to: envelopeCopy, limit: 64 * 1024)
            && Self.copyNoFollow(spool.packagePath, to: packageCopy, limit: UpdateDocumentLimits.maximumBytes)
        spool.clear()
        guard copied, let envelope = try? String(contentsOfFile: envelopeCopy, encoding: .utf8) else {
            logger.info("no update spooled (or not a regular file)")
            return .nothingSpooled
        }
        var state = UpdateAgentState.load(directory: options.stateDirectory)
        let outcome = try decide(envelope: envelope, package: packageCopy, local: local, state: &state)
        state.lastOutcome = outcome.description
        try state.save(directory: options.stateDirectory)
        return outcome
    }

    func decide(
        envelope: String, package: String, local: DaemonConfig, state: inout UpdateAgentState
    ) throws -> Outcome {
        let deviceID: String
        do { deviceID = try DeviceKey.load(path: local.keyFile).identity.deviceID } catch {
            return .failed("cannot read the device key \(local.keyFile): \(error)")
        }
        let installed = installedVersion
        let gate = UpdateGate(deviceID: deviceID, group: local.group, architecture: InstalledSoftware.architecture)
        // The box's wall clock (the agent has no control-room time): a box whose clock is far behind takes an
        // expired document panicd refused; one far ahead refuses a fresh one (docs/updates.md).
        let document: UpdateDocument
        switch gate.check(
            envelope, verifiers: RemoteConfigGate.verifiers(local), installed: installed, agent: state,
            now: Uplink.systemWallClock())
        {
        case .failure(let refusal):
            logger.warning("update refused", metadata: ["kind": "\(refusal.kind)", "reason": "\(refusal)"])
            return .refused("\(refusal.kind): \(refusal)")
        case .success(let accepted): document = accepted
        }
        if let refusal = try UpdateGate.checkPackage(at: package, against: document) {
            logger.warning("update refused", metadata: ["kind": "\(refusal.kind)", "reason": "\(refusal)"])
            return .refused("\(refusal.kind): \(refusal)")
        }
        let fields = try controlFields(package)
        guard fields["Package"] == UpdateDocument.packageName, fields["Version"] == document.version,
            fields["Architecture"] == document.architecture
        else {
            let why = "the package's control fields \(fields) are not the document's"
            logger.warning("update refused", metadata: ["kind": "control-fields", "reason": "\(why)"])
            return .refused("control-fields: \(why)")
        }
        logger.notice(
            "update verified", metadata: ["version": "\(document.version)", "installed": "\(installed)"])
        // The rollback target: the package of the installed version.
        let current = options.stateDirectory + "/current.deb"
        if (try? controlFields(current))?["Version"] != installed {
            logger.notice("keeping the installed package for rollback: rebuilding it from the installed files")
            try rebuildInstalled(to: current)
        }
        let (target, previous) = (options.stateDirectory + "/installing.deb", installed)
        try? FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: package, toPath: target)
        logger.notice("installing", metadata: ["version": "\(document.version)", "previous": "\(previous)"])
        var why: String?
        if let failure = runCommand([options.dpkg, "-i", target]) {
            why = "dpkg -i failed: \(failure)"
        } else if let failure = runCommand(options.restartCommand) {
            why = "restarting panicd failed: \(failure)"
        } else {
            why = awaitHealth(local: local)
        }
        if let why {
            logger.error(
                "update unhealthy: rolling back", metadata: ["version": "\(document.version)", "why": "\(why)"])
            // Written before the previous panicd starts again: the control room may send this document again at
            // once (the box had no time to acknowledge it), and the restarted panicd reads this state to refuse it.
            // Written after, a fast restart spooled the bad version again for another round.
            state.remember(rolledBack: document.version)
            state.lastOutcome = "rolling back \(document.version) to \(previous): \(why)"
            // A state that cannot be written (a full disk) must not stop the rollback itself; it is written again
            // with the outcome at the end.
            do { try state.save(directory: options.stateDirectory) } catch {
                logger.error("cannot record the rollback before it", metadata: ["error": "\(error)"])
            }
            if let failure = runCommand([options.dpkg, "-i", current]) {
                logger.critical("rollback dpkg -i failed", metadata: ["error": "\(failure)"])
                return .failed("rollback of \(document.version) to \(previous) failed: \(failure)")
            }
            if let failure = runCommand(options.restartCommand) {
                logger.critical("restarting the previous panicd failed", metadata: ["error": "\(failure)"])
            }
            logger.notice("rolled back", metadata: ["version": "\(document.version)", "now": "\(installedVersion)"])
            try? FileManager.default.removeItem(atPath: target)
            return .rolledBack(version: document.version, to: previous, why: why)
        }
        // Healthy: it is the rollback target from now on, and the floor.
        if FileManager.default.fileExists(atPath: current) { try FileManager.default.removeItem(atPath: current) }
        try FileManager.default.moveItem(atPath: target, toPath: current)
        state.raiseFloor(to: document.version)
        logger.notice("update installed and healthy", metadata: ["version": "\(document.version)"])
        return .installed(document.version)
    }

    /// Nil once the restarted panicd's status says armed with a delivery to a backend since it started, else why
    /// not (within `healthTimeout`).
    func awaitHealth(local: DaemonConfig) -> String? {
        let client = StatusClient(path: local.statusSocket)
        let deadline = ContinuousClock.now + options.healthTimeout
        var last: BoxStatus?
        do {
            try client.read(.watch, deadline: deadline) { message in
                guard case .status(let status) = message else { return true }
                last = status
                return !UpdateAgent.isHealthy(status)
            }
        } catch {
            return "no proof of health within \(options.healthTimeout.components.seconds) s: \(error)"
                + (last.map { " (last state \($0.state))" } ?? "")
        }
        guard let last, Self.isHealthy(last) else { return "panicd closed its status socket before it was healthy" }
        logger.notice("panicd healthy", metadata: ["version": "\(last.version)", "state": "\(last.state)"])
        return nil
    }

    /// Armed, and some backend took a batch since this panicd started (its first batch carries the start's health
    /// record, with the `software` version).
    public static func isHealthy(_ status: BoxStatus) -> Bool {
        status.state == "armed" && status.backends.contains { $0.lastDeliveryAgeSeconds != nil }
    }

    /// `dpkg-deb -f FILE`: the control fields.
    func controlFields(_ path: String) throws -> [String: String] {
        let output = try capture([options.dpkgDeb, "-f", path])
        var fields: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) where !line.hasPrefix(" ") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// Rebuilds the installed `panicbridge` package from the dpkg database and the installed files (what
    /// dpkg-repack does): its control fields without the status, its maintainer scripts and conffiles list, every
    /// file it installed. The first update's rollback target (a package cannot carry a copy of itself).
    func rebuildInstalled(to path: String) throws {
        let root = options.stateDirectory + "/rebuild"
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root + "/DEBIAN", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let package = UpdateDocument.packageName
        var control = ""
        var skipping = false
        for line in try capture([options.dpkgQuery, "-s", package]).split(
            separator: "\n", omittingEmptySubsequences: false)
        {
            if line.hasPrefix(" ") {
                if !skipping { control += "\(line)\n" }
                continue
            }
            let field = line.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            skipping = ["Status", "Conffiles", "Config-Version"].contains(field) || line.isEmpty
            if !skipping { control += "\(line)\n" }
        }
        try Data(control.utf8).write(to: URL(fileURLWithPath: root + "/DEBIAN/control"))
        let info = "/var/lib/dpkg/info/\(package)."
        for script in ["preinst", "postinst", "prerm", "postrm", "conffiles"]
        where FileManager.default.fileExists(atPath: info + script) {
            try FileManager.default.copyItem(atPath: info + script, toPath: root + "/DEBIAN/" + script)
        }
        // A directory the system itself links elsewhere (`/lib` → `usr/lib` on a merged-/usr system) is left out:
        // archived as the link, it would stand dangling in the rebuild tree and tar could not make the real
        // directories under it; tar makes the path's directories as it unpacks the files beneath.
        let list = try capture([options.dpkgQuery, "-L", package]).split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("/") && $0 != "/." && !Self.isLinkToDirectory($0) }
        let listFile = root + ".list"
        try Data(list.map { "." + $0 }.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: listFile))
        defer { try? FileManager.default.removeItem(atPath: listFile) }
        if let failure = runCommand([
            "/bin/sh", "-c",
            "tar -C / --no-recursion -cf - -T \"$1\" 2>/dev/null | tar -C \"$2\" -xpf -", "sh", listFile, root,
        ]) {
            throw DaemonError("cannot copy the installed files: \(failure)")
        }
        if let failure = runCommand([options.dpkgDeb, "--root-owner-group", "-b", root, path]) {
            throw DaemonError("cannot rebuild the installed package: \(failure)")
        }
    }

    /// Whether `path` is a symbolic link that resolves to a directory.
    static func isLinkToDirectory(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFLNK) else { return false }
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR)
    }

    /// Runs `arguments`, its output to the agent's; nil when it exited 0, else what happened.
    func runCommand(_ arguments: [String]) -> String? {
        logger.info("running", metadata: ["command": "\(arguments.joined(separator: " "))"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        do { try process.run() } catch { return "cannot run \(arguments[0]): \(error)" }
        process.waitUntilExit()
        return process.terminationStatus == 0 ? nil : "\(arguments[0]) exited \(process.terminationStatus)"
    }

    func capture(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DaemonError("\(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Copies the regular file at `source` (never through a link: `O_NOFOLLOW`) to `target`, at most `limit`
    /// bytes; false when there is none, it is not a regular file, or it is longer.
    static func copyNoFollow(_ source: String, to target: String, limit: Int) -> Bool {
        let fd = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & mode_t(S_IFMT)) == mode_t(S_IFREG), Int(info.st_size) <= limit
        else {
            return false
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
        guard FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600]),
            let out = FileHandle(forWritingAtPath: target)
        else { return false }
        defer { try? out.close() }
        var total = 0
        while let chunk = try? handle.read(upToCount: 64 * 1024), !chunk.isEmpty {
            total += chunk.count
            guard total <= limit, (try? out.write(contentsOf: chunk)) != nil else { return false }
        }
        return true
    }
}

/// The largest package the update channel carries (the control room stores and serves no bigger one).
public enum UpdateDocumentLimits {
    public static let maximumBytes = 512 * 1024 * 1024
}
