import ArgumentParser
import ControlRoomKit
import Foundation
import PanicCore
import PanicSigning

/// Where the control room keeps the packages it serves (`GET /v1/updates/<sha256>`): `--updates`, by default the
/// directory `updates` beside a SQLite database (the working directory's `updates` with PostgreSQL).
struct UpdatesOption: ParsableArguments {
    @Option(
        name: .long,
        help: "The directory of update packages served to boxes (default: 'updates' beside the SQLite database).")
    var updates: String?

    func packages(database: DatabaseOption) -> UpdatePackages {
        if let updates { return UpdatePackages(directory: updates) }
        guard !database.isPostgres else { return UpdatePackages(directory: "updates") }
        let directory = URL(fileURLWithPath: database.db).deletingLastPathComponent().path
        return UpdatePackages(directory: directory + "/updates")
    }
}

/// `controlroom update`: signed software updates of boxes (docs/updates.md).
struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Software updates of boxes: signed, expiring documents naming a package.",
        subcommands: [Push.self])

    /// `controlroom update push --device ID --deb F`: reads the package's control fields, refuses any package but
    /// `panicbridge`, stores it under its SHA-256, signs the update document and queues it for the device's next
    /// answer, audited (`update-push`, user `console`). With `--group G` instead: a staged rollout of the update to
    /// the group's devices (docs/updates.md → *Update rollouts*), its first stage pushed now and the rest by
    /// `controlroom serve`'s rollout service.
    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stores a panicbridge .deb, signs an update document naming it for one device and queues it, "
                + "or rolls it out to a group in stages.")
        @OptionGroup var options: DatabaseOption
        @OptionGroup var updates: UpdatesOption
        @Option(name: .long, help: "The control room's Ed25519 key file (made by `controlroom keygen`).")
        var key: String = "controlroom.key"
        @OptionGroup var target: PushTargetOptions
        @Option(name: .long, help: "The package: panicbridge_VERSION_ARCH.deb.")
        var deb: String
        @Option(name: .long, help: "The lowest version the box may run from now on (a Debian version).")
        var floor: String?

        func run() async throws {
            try target.check()
            let rollout = try target.rollout()
            guard FileManager.default.isReadableFile(atPath: deb) else { throw ValidationError("cannot read \(deb)") }
            let fields = try Self.controlFields(deb)
            let (size, sha256) = try PackageDigest.of(path: deb, limit: UpdatePackages.maximumBytes)
            let artifact: UpdateArtifact
            do {
                artifact = try UpdateArtifact(
                    package: fields["Package"] ?? "(none)", version: fields["Version"] ?? "",
                    architecture: fields["Architecture"] ?? "", sha256: sha256, size: size)
            } catch { throw ValidationError("\(deb): \(error)") }
            let packages = updates.packages(database: options)
            _ = try packages.store(deb, sha256: sha256, size: size)
            // Described beside it: the desk offers it for a rollout by this name.
            try packages.describe(artifact, name: URL(fileURLWithPath: deb).lastPathComponent)
            let signingKey = try DeviceKey.load(path: key)
            let (floor, lifetime, name) = (floor, target.lifetime, deb)
            let reason = "file \(URL(fileURLWithPath: name).lastPathComponent)"
            if let group = target.group, let rollout {
                let status = try await options.withRoom(key: signingKey) { room in
                    let row = try await room.startUpdateRollout(
                        group: group, artifact: artifact, floor: floor, stages: rollout.stages,
                        maxFailedPercent: rollout.maxFailed, waitMs: rollout.waitMs, lifetime: lifetime, by: .console,
                        reason: reason)
                    return try await room.rolloutStatus(id: row.id)
                }
                print(
                    "rollout \(status.rollout.id): update to panicbridge \(artifact.version) (sha256 \(sha256)), "
                        + PushTargetOptions.summary(status, group: group))
                return
            }
            guard let device = target.device else { return }
            let issued = try await options.withRoom(key: signingKey) { room in
                try await room.queueUpdate(
                    device: device, artifact: artifact, floor: floor, lifetime: lifetime, by: .console, reason: reason)
            }
            print(
                "queued update to panicbridge \(artifact.version) (\(artifact.architecture), sha256 \(sha256)) "
                    + "for \(device), expires \(issued.document.expires)")
        }

        /// `dpkg-deb -f FILE Package Version Architecture`.
        static func controlFields(_ path: String) throws -> [String: String] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-deb")
            process.arguments = ["-f", path, "Package", "Version", "Architecture"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch {
                throw ValidationError("cannot run dpkg-deb (is dpkg installed?): \(error)")
            }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ValidationError("\(path) is not a Debian package") }
            return UpdateArtifact.fields(String(decoding: data, as: UTF8.self))
        }
    }
}
