import PanicCore
import Testing

@Suite("AIS-140 OTA: SET/GET/CLR command text parsed as the vendor manuals write it")
struct AIS140OTAParserTests {
    typealias OTA = AIS140.OTA

    @Test("vendor syntax: one or several keys, case-insensitive verb and keys, the PIN in front")
    func wellFormed() throws {
        #expect(
            try OTA.parse("SET PIP:1.2.3.4").get()
                == OTA.Command(verb: .set, items: [.init(key: .primaryAddress, value: "1.2.3.4")]))
        #expect(
            try OTA.parse("set PIP:erss.example.gov.in,ppt:5001\r\n").get()
                == OTA.Command(
                    verb: .set,
                    items: [
                        .init(key: .primaryAddress, value: "erss.example.gov.in"),
                        .init(key: .primaryPort, value: "5001"),
                    ]
                ))
        #expect(try OTA.parse("GET VN").get() == OTA.Command(verb: .get, items: [.init(key: .vehicleNumber)]))
        #expect(try OTA.parse("GET UR,URE,URH").get().items.map(\.key) == [.rate, .emergencyRate, .healthRate])
        let cleared = try OTA.parse("CLR EO").get()
        #expect(cleared.clearsEmergency && cleared.verb == .clear)
        #expect(try OTA.parse("SET EO").get().clearsEmergency)
        let pinned = try OTA.parse("1234,SET UR:30").get()
        #expect(pinned.pin == "1234" && pinned.items == [.init(key: .rate, value: "30")])
    }

    @Test(
        "malformed text is refused with the problem named",
        arguments: [
            ("", "empty command"),
            ("HELLO PIP:1.2.3.4", "unknown verb 'HELLO'"),
            ("SET", "SET names no key"),
            ("SET XYZ:1", "unknown key 'XYZ'"),
            ("SET PIP", "SET PIP needs a value"),
            ("SET PIP:1.2.3.4;rm", "PIP: '1.2.3.4;rm' is not an IP address or host name"),
            ("SET PPT:70000", "PPT: '70000' is not a port"),
            ("SET UR:0", "UR: '0' is not a whole number of at least 1"),
            ("SET UR:ten", "UR: 'ten' is not a whole number"),
            ("GET PIP:1.2.3.4", "GET PIP takes no value"),
            ("CLR PIP", "only EO (emergency off) can be cleared"),
            ("GET EO", "EO (emergency off) can only be set or cleared"),
            ("SET UR:30,UR:60", "key UR given twice"),
            ("SET UR:30,", "empty key"),
            (",SET UR:30", "empty PIN"),
            ("SET VN:AB\u{7}", "U+7"),
            ("SET VN:" + String(repeating: "A", count: 200), "longer than 160"),
        ])
    func malformed(text: String, problem: String) {
        guard case .failure(let error) = OTA.parse(text) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.description.contains(problem), "\(error)")
    }

    @Test("the Alert 12 field names the verb, source and key: [TYPE]:[SRC]:[SRC_VAL]|[CMD]:[VAL]")
    func alertInfo() {
        #expect(
            OTA.alertInfo(verb: .set, source: .sms("+919800000000"), key: .rate, value: "60")
                == "SET:SMS:+919800000000|UR:60")
        #expect(
            OTA.alertInfo(verb: .get, source: .server("state,erss*"), key: .primaryAddress, value: "1.2.3.4")
                == "GET:SRV:stateerss|PIP:1.2.3.4")
    }
}
