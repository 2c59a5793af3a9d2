import ArgumentParser
import ControlRoomKit
import Foundation
import PanicSigning

/// `controlroom config`: remote configuration of boxes (docs/configuration.md → *Remote configuration*).
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Remote configuration of boxes: signed, versioned, expiring documents.",
        subcommands: [Push.self, Status.self])

    /// `controlroom config push --device ID --file F`: signs the document with the control room's key and queues
    /// it for the device's next answer, audited (`config-push`, user `console`). With `--group G` instead: a staged
    /// rollout to the group's devices (docs/configuration.md → *Staged rollouts*), its first stage pushed now and
    /// the rest by `controlroom serve`'s rollout service.
    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Signs a configuration overlay (YAML: the remotely settable keys of panicd.yaml) for one device "
                + "and queues it, or rolls it out to a group in stages; prints the version or the rollout.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The control room's Ed25519 key file (made by `controlroom keygen`).")
        var key: String = "controlroom.key"
        @OptionGroup var target: PushTargetOptions
        @Option(name: .long, help: "The overlay: a YAML file of backends, sms, rates, privacy_mode, log_level.")
        var file: String

        func run() async throws {
            try target.check()
            guard let settings = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ValidationError("cannot read \(file)")
            }
            let signingKey = try DeviceKey.load(path: key)
            let lifetime = target.lifetime
            let file = file
            if let group = target.group, let plan = try target.rollout() {
                let status = try await options.withRoom(key: signingKey) { room in
                    let rollout = try await room.startConfigRollout(
                        group: group, settings: settings, stages: plan.stages, maxFailedPercent: plan.maxFailed,
                        waitMs: plan.waitMs, lifetime: lifetime, by: .console, reason: "file \(file)")
                    return try await room.rolloutStatus(id: rollout.id)
                }
                print("rollout \(status.rollout.id): " + PushTargetOptions.summary(status, group: group))
                return
            }
            guard let device = target.device else { return }
            let issued = try await options.withRoom(key: signingKey) { room in
                try await room.pushConfig(
                    device: device, settings: settings, lifetime: lifetime, by: .console, reason: "file \(file)")
            }
            print(
                "queued configuration version \(issued.document.version) for \(device), expires \(issued.document.expires)"
            )
        }
    }

    /// `controlroom config status [--group G]`: per device, the version pushed, acknowledged, running, and where it
    /// stands.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per device: the configuration version pushed, acknowledged, running, and healthy / failed / "
                + "pending.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "Only the devices of this group.")
        var group: String?

        func run() async throws {
            let group = group
            let rows = try await options.withRoom { try await $0.configStatus(group: group) }
            print("device\tgroup\tpushed\tacked\trunning\tstate\trollout\treason")
            for row in rows {
                print(
                    [
                        row.device, row.group.isEmpty ? "-" : row.group, row.pushed.map(String.init) ?? "-",
                        row.pushed == nil ? "-" : (row.acknowledged ? "yes" : "no"),
                        row.running.map(String.init) ?? "local", row.state, row.rollout.map(String.init) ?? "-",
                        row.reason,
                    ].joined(separator: "\t"))
            }
        }
    }
}

/// `controlroom rollout`: the staged rollouts (docs/configuration.md → *Staged rollouts*).
struct RolloutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout", abstract: "Staged rollouts: list, status, resume a paused one, abort.",
        subcommands: [List.self, Status.self, Resume.self, Abort.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lists the rollouts, newest first.")
        @OptionGroup var options: DatabaseOption

        func run() async throws {
            for rollout in try await options.withRoom({ try await $0.rollouts() }) {
                print(
                    "\(rollout.id)\t\(rollout.kind.rawValue)\tgroup=\(rollout.group)\t\(rollout.state.rawValue)"
                        + "\tstage=\(rollout.stage + 1)\tby=\(rollout.createdBy)")
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One rollout: its state, and each device's.")
        @OptionGroup var options: DatabaseOption
        @Argument(help: "The rollout's id.") var id: Int64

        func run() async throws {
            let id = id
            let status = try await options.withRoom { try await $0.rolloutStatus(id: id) }
            let rollout = status.rollout
            let stageCount = (status.devices.map(\.row.stage).max() ?? 0) + 1
            print(
                "rollout \(rollout.id): \(rollout.kind.rawValue) to group \(rollout.group), \(rollout.state.rawValue), "
                    + "stage \(rollout.stage + 1) of \(stageCount) (stages \(rollout.stagesText) %, pause above "
                    + "\(rollout.maxFailedPercent)% failed, wait \(rollout.waitMs / 1000) s)")
            // The version each box runs: its configuration version, or for an update its software version.
            print("device\tstage\tstate\tpushed\tacked\t\(rollout.kind == .config ? "running" : "software")\treason")
            for device in status.devices {
                let row = device.row
                print(
                    [
                        row.device, String(row.stage + 1), row.state.rawValue, row.version ?? "-",
                        row.version == nil ? "-" : (device.acknowledged ? "yes" : "no"),
                        device.running ?? (rollout.kind == .config ? "local" : "-"),
                        row.reason,
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resumes a paused rollout: the failures of its stage so far are accepted.")
        @OptionGroup var options: DatabaseOption
        @Option(name: .long, help: "The control room's Ed25519 key file (the next stage is signed with it).")
        var key: String = "controlroom.key"
        @Argument(help: "The rollout's id.") var id: Int64

        func run() async throws {
            let (id, signingKey) = (id, try DeviceKey.load(path: key))
            let state = try await options.withRoom(key: signingKey) { room in
                try await room.resumeRollout(id: id, by: .console)
                return try await room.rolloutStatus(id: id).rollout.state
            }
            print("rollout \(id) resumed: \(state.rawValue)")
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stops a rollout for good: devices not pushed yet never are.")
        @OptionGroup var options: DatabaseOption
        @Argument(help: "The rollout's id.") var id: Int64
        @Option(name: .long, help: "Why (into the audit log).")
        var reason: String = ""

        func run() async throws {
            let (id, reason) = (id, reason)
            try await options.withRoom { try await $0.abortRollout(id: id, by: .console, reason: reason) }
            print("rollout \(id) aborted")
        }
    }
}
