/// What the box shows the person at it, decided from the alert engine's state and what just happened: the one
/// rule behind the LED and buzzer. Pure: the daemon shell only carries out what it returns.
///
/// - After a restart: an open emergency shows `stored` (it is committed; its progress is followed again), an
///   input fault shows `fault`, otherwise `armed`.
/// - An input fault (cut loop, stuck button) shows `fault`, unless an emergency is open: her alert's progress
///   stays in front.
/// - A fault mended, with no other fault and no open emergency, shows `armed` again.
/// - An emergency's or help request's progress shows as stored → sent → help on the way → cleared; tamper alerts
///   are for the maintenance desk and do not light the LED.
public enum IndicatorPolicy {
    /// What the box shows when it starts with `state` restored from disk.
    public static func atStart(_ state: AlertEngine.PersistentState) -> IndicatorState {
        if state.openEmergency != nil { return .stored }
        return state.inputFaults.isEmpty ? .armed : .fault
    }

    /// What to show after an input event was handled, given the engine's state after it; nil leaves the LED as
    /// it is.
    public static func after(_ event: InputEvent, state: AlertEngine.PersistentState) -> IndicatorState? {
        let emergencyOpen = state.openEmergency != nil
        if event.kind.isFault, !emergencyOpen { return .fault }
        if event.kind == .wireRestored || event.kind == .stuckCleared, state.inputFaults.isEmpty, !emergencyOpen {
            return .armed
        }
        return nil
    }

    /// What to show when an alert moves along its lifecycle; nil for alerts that do not light the LED.
    public static func after(_ transition: AlertTransition) -> IndicatorState? {
        guard transition.kind == .emergency || transition.kind == .help else { return nil }
        switch transition.to {
        case .stored: return .stored
        case .sent: return .sent
        case .acknowledged: return .helpOnTheWay
        case .cleared: return .cleared
        }
    }
}
