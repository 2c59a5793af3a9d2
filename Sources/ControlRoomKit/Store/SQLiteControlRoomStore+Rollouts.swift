import PanicCore
import PanicSQLite

extension SQLiteControlRoomStore {
    // MARK: Groups and staged rollouts (the rules are `RolloutPlan`'s; this reads and writes rows)

    public func setGroup(device: String, group: String, audit: NewAuditEntry) throws {
        try state.withLock { state in
            try state.connection.transaction {
                try requireRegistered(device, state)
                if group.isEmpty {
                    try state.statement("DELETE FROM device_groups WHERE device = ?1").bind([.text(device)]).run()
                } else {
                    try state.statement(
                        """
                        INSERT INTO device_groups(device, fleet_group) VALUES(?1, ?2)
                        ON CONFLICT(device) DO UPDATE SET fleet_group = ?2
                        """
                    ).bind([.text(device), .text(group)]).run()
                }
                try appendAudit(audit, state)
            }
        }
    }

    public func groups() throws -> [String: String] {
        try read { state in
            let query = try state.statement("SELECT device, fleet_group FROM device_groups")
            try query.bind([])
            var result: [String: String] = [:]
            while try query.step() { result[query.text(0)] = query.text(1) }
            query.reset()
            return result
        }
    }

    public func createRollout(
        _ rollout: RolloutRow, devices: [RolloutDeviceRow], audit: NewAuditEntry
    ) throws
        -> RolloutRow
    {
        try state.withLock { state in
            try state.connection.transaction {
                try state.statement(
                    """
                    INSERT INTO rollouts(kind, fleet_group, payload, stages, max_failed, wait_ms, lifetime_ms, state,
                        stage, accepted_failures, revision, created_ms, created_by)
                    VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                    """
                ).bind([
                    .text(rollout.kind.rawValue), .text(rollout.group), .text(rollout.payload),
                    .text(rollout.stagesText), .integer(Int64(rollout.maxFailedPercent)), .integer(rollout.waitMs),
                    .integer(rollout.lifetimeMs), .text(rollout.state.rawValue), .integer(Int64(rollout.stage)),
                    .integer(Int64(rollout.acceptedFailures)), .integer(rollout.revision),
                    .integer(rollout.createdMs), .text(rollout.createdBy),
                ]).run()
                var created = rollout
                created.id = try state.connection.integer("SELECT last_insert_rowid()") ?? 0
                for row in devices {
                    try state.statement(
                        "INSERT INTO rollout_devices(rollout, device, stage, state) VALUES(?1, ?2, ?3, ?4)"
                    ).bind([
                        .integer(created.id), .text(row.device), .integer(Int64(row.stage)), .text(row.state.rawValue),
                    ]).run()
                }
                var entry = audit
                entry.alert = created.auditName
                try appendAudit(entry, state)
                return created
            }
        }
    }

    public func rollouts() throws -> [RolloutRow] {
        try read { state in
            let query = try state.statement(
                """
                SELECT id, kind, fleet_group, payload, stages, max_failed, wait_ms, lifetime_ms, state, stage,
                    accepted_failures, revision, created_ms, created_by FROM rollouts ORDER BY id DESC
                """)
            try query.bind([])
            var result: [RolloutRow] = []
            while try query.step() {
                result.append(
                    RolloutRow(
                        id: query.integer(0), kind: RolloutKind(rawValue: query.text(1)) ?? .config,
                        group: query.text(2), payload: query.text(3), stages: RolloutRow.stages(stored: query.text(4)),
                        maxFailedPercent: Int(query.integer(5)), waitMs: query.integer(6),
                        lifetimeMs: query.integer(7), state: RolloutState(rawValue: query.text(8)) ?? .aborted,
                        stage: Int(query.integer(9)), acceptedFailures: Int(query.integer(10)),
                        revision: query.integer(11), createdMs: query.integer(12), createdBy: query.text(13)))
            }
            query.reset()
            return result
        }
    }

    public func rolloutDevices(id: Int64) throws -> [RolloutDeviceRow] {
        try read { state in
            let query = try state.statement(
                """
                SELECT device, stage, state, version, alert, pushed_ms, reason FROM rollout_devices WHERE rollout = ?1
                ORDER BY stage, device
                """)
            try query.bind([.integer(id)])
            var result: [RolloutDeviceRow] = []
            while try query.step() {
                result.append(
                    RolloutDeviceRow(
                        device: query.text(0), stage: Int(query.integer(1)),
                        state: RolloutDeviceState(rawValue: query.text(2)) ?? .failed,
                        version: query.isNull(3) ? nil : query.text(3), alert: query.isNull(4) ? nil : query.text(4),
                        pushedMs: query.isNull(5) ? nil : query.integer(5), reason: query.text(6)))
            }
            query.reset()
            return result
        }
    }

    public func applyRollout(_ plan: RolloutPlan, issue: RolloutIssuer, actor: AuditActor, now: RecordTime) throws {
        try state.withLock { state in
            try state.connection.transaction {
                let rollout = plan.rollout
                try state.statement(
                    """
                    UPDATE rollouts SET state = ?1, stage = ?2, accepted_failures = ?3, revision = ?4
                    WHERE id = ?5 AND revision = ?6
                    """
                ).bind([
                    .text(rollout.state.rawValue), .integer(Int64(rollout.stage)),
                    .integer(Int64(rollout.acceptedFailures)), .integer(plan.readRevision + 1), .integer(rollout.id),
                    .integer(plan.readRevision),
                ]).run()
                guard state.connection.changes == 1 else { throw RolloutError.conflict(rollout.id) }
                for row in plan.settled {
                    try state.statement(
                        "UPDATE rollout_devices SET state = ?1, reason = ?2 WHERE rollout = ?3 AND device = ?4"
                    ).bind([.text(row.state.rawValue), .text(row.reason), .integer(rollout.id), .text(row.device)])
                        .run()
                }
                let action = rollout.kind.queueAction
                for device in plan.push {
                    let document = try issue(device, try queuedAlerts(device: device, action: action, state))
                    try insertCommand(
                        nonce: document.nonce, device: device, alert: document.alert, action: action,
                        envelope: document.envelope, expiresMs: document.expiresMs, state)
                    try state.statement(
                        """
                        UPDATE rollout_devices SET state = ?1, version = ?2, alert = ?3, pushed_ms = ?4
                        WHERE rollout = ?5 AND device = ?6
                        """
                    ).bind([
                        .text(RolloutDeviceState.pending.rawValue), .text(document.version), .text(document.alert),
                        .integer(now.epochMilliseconds), .integer(rollout.id), .text(device),
                    ]).run()
                    try appendAudit(plan.pushAudit(device: device, document: document, actor: actor, now: now), state)
                }
                for entry in plan.auditEntries(actor: actor, now: now) { try appendAudit(entry, state) }
            }
        }
    }

    public func lastQueued(device: String, action: String) throws -> (alert: String, acked: Bool)? {
        try read { state in
            let query = try state.statement(
                "SELECT alert, acked FROM commands WHERE device = ?1 AND action = ?2 ORDER BY rowid DESC LIMIT 1")
            try query.bind([.text(device), .text(action)])
            defer { query.reset() }
            guard try query.step() else { return nil }
            return (query.text(0), query.integer(1) != 0)
        }
    }
}
