import ArgumentParser
import ControlRoomKit

/// Where `config push` and `update push` send their signed document, for how long, and (with `--group`) the
/// rollout's stages: one device now, or a group in stages (docs/updates.md → *Update rollouts*).
struct PushTargetOptions: ParsableArguments {
    @Option(name: .long, help: "The device id.")
    var device: String?
    @Option(name: .long, help: "A group (`controlroom devices edit --group`): a staged rollout to its devices.")
    var group: String?
    @Option(name: .long, help: "How long the document stays valid, in hours (the box refuses it after).")
    var hours: Int = 168
    @Option(name: .long, help: "With --group: the stages, cumulative percentages of the group ending at 100.")
    var stages: String = "1,10,100"
    @Option(name: .long, help: "With --group: pause when more than this share of a stage failed.")
    var maxFailed: String = "10%"
    @Option(
        name: .long,
        help:
            "With --group: how long a pushed box has to report the new version healthy (for an update, more than its agent's wait)."
    )
    var wait: String = "30m"

    func check() throws {
        guard hours > 0 else { throw ValidationError("--hours must be positive") }
        guard (device == nil) != (group == nil) else { throw ValidationError("give either --device or --group") }
    }

    var lifetime: Duration { .seconds(hours * 3600) }

    /// With `--group`: the stages, the failed share that pauses, the wait in ms, each parsed by `RolloutPlan`.
    func rollout() throws -> (stages: [Int], maxFailed: Int, waitMs: Int64)? {
        guard group != nil else { return nil }
        return (try RolloutPlan.stages(stages), try RolloutPlan.maxFailed(maxFailed), try RolloutPlan.wait(wait))
    }

    /// "group G, N device(s) in S stage(s); stage 1 pushed to P device(s)".
    static func summary(_ status: RolloutStatus, group: String) -> String {
        let pushed = status.devices.filter { $0.row.state != .waiting }.count
        let stageCount = (status.devices.map(\.row.stage).max() ?? 0) + 1
        return "group \(group), \(status.devices.count) device(s) in \(stageCount) stage(s); stage 1 pushed to "
            + "\(pushed) device(s)"
    }
}
