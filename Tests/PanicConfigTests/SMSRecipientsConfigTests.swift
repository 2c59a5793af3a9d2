import Foundation
import PanicConfig
import PanicCore
import Testing

@Suite("SMS recipients in the daemon configuration: alerts and tamper apart, a format per number")
struct SMSRecipientsConfigTests {
    static let head = "board: b.yaml\nkey: k\noutbox:\n  path: o.db\nsms:\n  port: /dev/ttyUSB2\n"

    @Test("numbers as strings or with a format; tamper numbers apart; fields by default")
    func recipients() throws {
        let yaml =
            Self.head + """
                  numbers:
                    - "+919999000111"
                    - number: "+919812345678"
                      format: text
                    - number: "112"
                      format: fields
                  tamper_numbers: ["+911412222333", {number: "+919812345678", format: text}]
                """
        let (config, problems) = DaemonConfig.parse(yaml)
        #expect(problems.isEmpty, "\(problems)")
        let sms = try #require(config?.sms)
        #expect(sms.numbers == ["+919999000111", "+919812345678", "112"])
        #expect(sms.tamperNumbers == ["+911412222333", "+919812345678"])
        #expect(sms.formats == ["+919812345678": .text])
    }

    @Test(
        "bad recipients are named with their key",
        arguments: [
            (
                "  numbers: [{number: \"+919812345678\", format: prose}]\n", "sms.numbers[0].format",
                "'prose' is not one of"
            ),
            ("  numbers: [\"+919812345678\", \"+919812345678\"]\n", "sms.numbers[1]", "listed twice"),
            (
                "  numbers: [\"+919812345678\"]\n  tamper_numbers: [{number: \"+919812345678\", format: text}]\n",
                "sms.tamper_numbers[0]", "one number gets one format"
            ),
            (
                "  numbers: [\"+919812345678\"]\n  tamper_numbers: [\"12\"]\n", "sms.tamper_numbers[0]",
                "not a phone number"
            ),
            ("  numbers: [{phone: \"+919812345678\"}]\n", "sms.numbers[0].phone", "unknown key"),
        ])
    func bad(tail: String, key: String, message: String) throws {
        let (config, problems) = DaemonConfig.parse(Self.head + tail)
        #expect(config == nil)
        let problem = try #require(problems.first { $0.key == key }, "\(problems)")
        #expect(problem.message.contains(message), "\(problem.message)")
    }
}
