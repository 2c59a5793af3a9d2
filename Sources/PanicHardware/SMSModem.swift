/// Sends text messages: a GSM modem on a serial port (`GSMModem` in PanicLinux) or its twin.
public protocol SMSModem: Sendable {
    /// Sends `text` to `number`; returns the modem's message reference.
    /// - Throws: `SMSModemError`, saying whether the text had been handed to the modem when it failed.
    func send(_ text: String, to number: String) async throws(SMSModemError) -> Int
}

/// Why a message was not (known to be) sent.
public struct SMSModemError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What failed: the step and the modem's answer, or the I/O error.
    public var reason: String
    /// Whether the text had been handed over (Ctrl-Z written) before the failure: then it may have gone out.
    public var textHandedOver: Bool

    public init(reason: String, textHandedOver: Bool) {
        self.reason = reason
        self.textHandedOver = textHandedOver
    }

    public var description: String { reason }
}
