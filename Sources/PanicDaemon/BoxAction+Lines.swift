import PanicConfig
import PanicSim

extension SimulatedInputLines {
    /// Carries out an act on the lines themselves (a press, a cut wire, the enclosure, main power, ignition) at
    /// the clock's now. Returns false for acts that are not about the lines (network, power cut, operator, …).
    /// A press or bounce with a `hold` only starts here: letting go is the caller's, after the hold.
    @discardableResult
    public func perform(_ action: BoxAction) throws(SimulatedLineError) -> Bool {
        switch action {
        case .press(let input, _), .stuck(let input): try press(input)
        case .release(let input): try release(input)
        case .bounce(let input, let edges, let span, let hold):
            // Held afterwards: an odd number of edges ends with the contact the other way round, pressed.
            try bounce(input, edges: hold == nil ? edges : edges | 1, over: span)
        case .cutWire(let input): try cutWire(input)
        case .restore(let input): try restore(input)
        case .enclosure(let open): try open ? openEnclosure() : closeEnclosure()
        case .mainPower(let on): try on ? restorePower() : losePower()
        case .ignition(let on): try ignition(on)
        case .powerCut, .gnss, .network, .serverErrors, .lostResponses, .operatorAction: return false
        }
        return true
    }
}
