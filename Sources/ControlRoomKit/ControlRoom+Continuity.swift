import PanicCore

/// Stream continuity across a lost outbox. A box that lost its outbox (moved aside as corrupt, deleted, an SD card
/// re-imaged with the key kept) continues its stream after the high-water mark it keeps beside its key, so its new
/// records chain on and are accepted; the records that were only in the lost outbox show as gaps. The first health
/// record after the loss carries the fault `outbox-lost` (and `outbox-corrupt-moved-aside` when the file was
/// corrupt): the control room records it as the device finding `outbox-lost`, shown by `controlroom devices list`
/// and `GET /v1/devices` as "outbox lost seq N" — N being the health record that reported it.
extension ControlRoom {
    /// The finding recorded when a device reports that it lost its outbox.
    public static let outboxLostFinding = "outbox-lost"
    /// The health faults that mean the device lost records it had committed.
    static let outboxLossFaults: Set<String> = ["outbox-lost", "outbox-corrupt-moved-aside"]

    /// Notes what a newly stored record says about the device's stream (called by the intake, in its transaction).
    func noteContinuity(_ record: Record, _ state: State) throws {
        guard case .health(let report) = record.body, report.faults.contains(where: Self.outboxLossFaults.contains)
        else { return }
        try state.statement("INSERT INTO findings(device, seq, finding) VALUES(?1, ?2, ?3)")
            .bind([.text(record.device), .integer(record.sequence), .text(Self.outboxLostFinding)]).run()
        logger.error(
            "outbox lost on the device: records it had not delivered are gone (they show as gaps)",
            metadata: ["device": "\(record.device)", "seq": "\(record.sequence)", "faults": "\(report.faults)"])
    }
}
