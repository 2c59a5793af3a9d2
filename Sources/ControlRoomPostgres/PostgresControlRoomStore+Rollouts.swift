import ControlRoomKit
import PanicCore
import PostgresNIO

extension PostgresControlRoomStore {
    // MARK: Groups and staged rollouts (the rules are `RolloutPlan`'s; this reads and writes rows)

    public func setGroup(device: String, group: String, audit: NewAuditEntry) async throws {
        let logger = logger
        try await transaction { connection in
            let known = try await connection.query("SELECT id FROM devices WHERE id = \(device)", logger: logger)
                .collect()
            guard !known.isEmpty else { throw ControlRoomError.unknownDevice(device) }
            if group.isEmpty {
                try await connection.query("DELETE FROM device_groups WHERE device = \(device)", logger: logger)
            } else {
                try await connection.query(
                    """
                    INSERT INTO device_groups(device, fleet_group) VALUES(\(device), \(group))
                    ON CONFLICT(device) DO UPDATE SET fleet_group = \(group)
                    """, logger: logger)
            }
            try await Self.append(audit, connection, logger)
        }
    }

    public func groups() async throws -> [String: String] {
        var result: [String: String] = [:]
        for row in try await query("SELECT device, fleet_group FROM device_groups") {
            let (device, group) = try row.decode((String, String).self)
            result[device] = group
        }
        return result
    }

    public func createRollout(
        _ rollout: RolloutRow, devices: [RolloutDeviceRow], audit: NewAuditEntry
    ) async throws
        -> RolloutRow
    {
        let logger = logger
        return try await transaction { connection in
            let (kind, state, stages) = (rollout.kind.rawValue, rollout.state.rawValue, rollout.stagesText)
            let (maxFailed, stage, accepted) = (rollout.maxFailedPercent, rollout.stage, rollout.acceptedFailures)
            let rows = try await connection.query(
                """
                INSERT INTO rollouts(kind, fleet_group, payload, stages, max_failed, wait_ms, lifetime_ms, state,
                    stage, accepted_failures, revision, created_ms, created_by)
                VALUES(\(kind), \(rollout.group), \(rollout.payload), \(stages), \(maxFailed), \(rollout.waitMs),
                    \(rollout.lifetimeMs), \(state), \(stage), \(accepted), \(rollout.revision), \(rollout.createdMs),
                    \(rollout.createdBy))
                RETURNING id
                """, logger: logger
            ).collect()
            var created = rollout
            created.id = try rows.first?.decode(Int64.self) ?? 0
            for row in devices {
                let (id, deviceState) = (created.id, row.state.rawValue)
                try await connection.query(
                    """
                    INSERT INTO rollout_devices(rollout, device, stage, state)
                    VALUES(\(id), \(row.device), \(row.stage), \(deviceState))
                    """, logger: logger)
            }
            var entry = audit
            entry.alert = created.auditName
            try await Self.append(entry, connection, logger)
            return created
        }
    }

    public func rollouts() async throws -> [RolloutRow] {
        try await query(
            """
            SELECT id, kind, fleet_group, payload, stages, max_failed, wait_ms, lifetime_ms, state, stage,
                accepted_failures, revision, created_ms, created_by FROM rollouts ORDER BY id DESC
            """
        ).map { row in
            let (
                id, kind, group, payload, stages, maxFailed, waitMs, lifetime, state, stage, accepted, revision,
                created, by
            ) =
                try row.decode(
                    (Int64, String, String, String, String, Int, Int64, Int64, String, Int, Int, Int64, Int64, String)
                        .self)
            return RolloutRow(
                id: id, kind: RolloutKind(rawValue: kind) ?? .config, group: group, payload: payload,
                stages: RolloutRow.stages(stored: stages), maxFailedPercent: maxFailed, waitMs: waitMs,
                lifetimeMs: lifetime, state: RolloutState(rawValue: state) ?? .aborted, stage: stage,
                acceptedFailures: accepted, revision: revision, createdMs: created, createdBy: by)
        }
    }

    public func rolloutDevices(id: Int64) async throws -> [RolloutDeviceRow] {
        try await query(
            """
            SELECT device, stage, state, version, alert, pushed_ms, reason FROM rollout_devices
            WHERE rollout = \(id) ORDER BY stage, device
            """
        ).map { row in
            let (device, stage, state, version, alert, pushed, reason) = try row.decode(
                (String, Int, String, String?, String?, Int64?, String).self)
            return RolloutDeviceRow(
                device: device, stage: stage, state: RolloutDeviceState(rawValue: state) ?? .failed, version: version,
                alert: alert, pushedMs: pushed, reason: reason)
        }
    }

    public func applyRollout(
        _ plan: RolloutPlan, issue: RolloutIssuer, actor: AuditActor, now: RecordTime
    )
        async throws
    {
        let logger = logger
        try await transaction { connection in
            let rollout = plan.rollout
            let (state, stage, accepted) = (rollout.state.rawValue, rollout.stage, rollout.acceptedFailures)
            let (read, next) = (plan.readRevision, plan.readRevision + 1)
            let updated = try await connection.query(
                """
                UPDATE rollouts SET state = \(state), stage = \(stage), accepted_failures = \(accepted),
                    revision = \(next)
                WHERE id = \(rollout.id) AND revision = \(read) RETURNING 1
                """, logger: logger
            ).collect()
            guard updated.count == 1 else { throw RolloutError.conflict(rollout.id) }
            for row in plan.settled {
                let deviceState = row.state.rawValue
                try await connection.query(
                    """
                    UPDATE rollout_devices SET state = \(deviceState), reason = \(row.reason)
                    WHERE rollout = \(rollout.id) AND device = \(row.device)
                    """, logger: logger)
            }
            let action = rollout.kind.queueAction
            let pending = RolloutDeviceState.pending.rawValue
            let nowMs = now.epochMilliseconds
            for device in plan.push {
                // The device's row is locked until commit: a `config push` at the same time gets the next version.
                _ = try await Self.lockDevice(device, connection, logger)
                let document = try issue(
                    device, try await Self.queuedAlerts(device: device, action: action, connection, logger))
                try await Self.insertCommand(
                    nonce: document.nonce, device: device, alert: document.alert, action: action,
                    envelope: document.envelope, expiresMs: document.expiresMs, connection, logger)
                try await connection.query(
                    """
                    UPDATE rollout_devices SET state = \(pending), version = \(document.version),
                        alert = \(document.alert), pushed_ms = \(nowMs)
                    WHERE rollout = \(rollout.id) AND device = \(device)
                    """, logger: logger)
                try await Self.append(
                    plan.pushAudit(device: device, document: document, actor: actor, now: now), connection, logger)
            }
            for entry in plan.auditEntries(actor: actor, now: now) { try await Self.append(entry, connection, logger) }
        }
    }

    public func lastQueued(device: String, action: String) async throws -> (alert: String, acked: Bool)? {
        let rows = try await query(
            """
            SELECT alert, acked FROM commands WHERE device = \(device) AND action = \(action)
            ORDER BY row_id DESC LIMIT 1
            """)
        guard let row = rows.first else { return nil }
        let (alert, acked) = try row.decode((String, Bool).self)
        return (alert, acked)
    }
}
