extension ModemAnswers {
    /// A text message the modem holds (3GPP TS 27.005 text mode, `AT+CMGF=1`).
    public struct IncomingSMS: Sendable, Hashable {
        /// Its index in the modem's store (for `AT+CMGD=<index>`).
        public var index: Int
        /// The sender's number as the network gave it (`+919800000000`).
        public var sender: String
        public var text: String
        public init(index: Int, sender: String, text: String) {
            self.index = index
            self.sender = sender
            self.text = text
        }
    }

    /// Most messages read from one `AT+CMGL` listing; a modem listing more is answering garbage.
    public static let maximumListed = 30
    /// Longest message text kept (one SMS); a longer line is refused as garbage.
    public static let maximumText = 160

    /// The messages of an `AT+CMGL="REC UNREAD"` (or `"ALL"`) answer: each `+CMGL: <index>,"<stat>","<sender>",…`
    /// line followed by the message's text line, up to `OK`. An error answer, a header that does not parse, a header
    /// without its text, a text longer than ``maximumText`` or more than ``maximumListed`` messages is an error
    /// naming the problem.
    public static func messages(_ lines: [String]) throws(Failure) -> [IncomingSMS] {
        var messages: [IncomingSMS] = []
        var header: (index: Int, sender: String)?
        for raw in lines {
            let line = raw.trimmingSpaces
            if let current = header {
                guard line.utf8.count <= maximumText else {
                    throw Failure("AT+CMGL: message \(current.index) longer than \(maximumText) characters")
                }
                messages.append(IncomingSMS(index: current.index, sender: current.sender, text: line))
                header = nil
                guard messages.count <= maximumListed else {
                    throw Failure("AT+CMGL: more than \(maximumListed) messages listed")
                }
                continue
            }
            if line.isEmpty { continue }
            if isFinal(line) {
                guard line == "OK" else {
                    throw Failure("AT+CMGL: the modem answered \(LogText.quoted(line, limit: 40))")
                }
                return messages
            }
            guard line.hasPrefix("+CMGL:") else {
                throw Failure("AT+CMGL: unexpected line \(LogText.quoted(line, limit: 40))")
            }
            let fields = splitOutsideQuotes(String(line.dropFirst(6))).map { $0.trimmingSpaces }
            guard fields.count >= 3, let index = Int(fields[0]), index >= 0, let sender = unquoted(fields[2]),
                !sender.isEmpty, sender.utf8.count <= 32
            else { throw Failure("AT+CMGL: unreadable header \(LogText.quoted(line, limit: 60))") }
            header = (index, sender)
        }
        if let header { throw Failure("AT+CMGL: message \(header.index) has no text") }
        throw Failure("AT+CMGL: the answer ended without OK")
    }
}
