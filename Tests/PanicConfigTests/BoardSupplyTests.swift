import PanicConfig
import PanicCore
import Testing

/// The board file's optional `supply:` section: power_supply or IIO sources, checked with clear errors.
@Suite("Board file supply section")
struct BoardSupplyTests {
    static let board = """
        board: test
        model: Test board
        chip: pinctrl-bcm2711
        inputs:
          - name: driver
            role: emergency
            line: GPIO17
        gnss:
          port: /dev/panic-gnss
        """

    func parse(_ supply: String) -> BoardFile.Result { BoardFile.parse(Self.board + "\n" + supply) }

    @Test("power_supply and IIO sources are read; a board without the section has no supply monitor")
    func reads() throws {
        #expect(try #require(BoardFile.parse(Self.board).board).supply == nil)
        let result = parse(
            """
            supply:
              main: {iio: "iio:device0", channel: 3, divider: 11}
              backup: {power_supply: battery}
            """)
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(
            result.board?.supply
                == SupplySpec(
                    main: .iio(device: "iio:device0", channel: 3, divider: 11), backup: .powerSupply(name: "battery")))
    }

    @Test(
        "bad supply sections are errors naming the key and what is wrong",
        arguments: [
            (
                "supply:\n  main: {power_supply: battery, iio: \"iio:device0\"}", "supply.main",
                "either power_supply or iio"
            ),
            ("supply:\n  main: {}", "supply.main", "give power_supply"),
            (
                "supply:\n  main: {power_supply: ../../etc}", "supply.main.power_supply",
                "not a power_supply device name"
            ),
            ("supply:\n  main: {iio: \"iio:device0\", divider: 2}", "supply.main.channel", "missing ADC channel"),
            ("supply:\n  main: {iio: \"iio:device0\", channel: 1}", "supply.main.divider", "missing divider"),
            ("supply:\n  main: {iio: \"iio:device0\", channel: 1, divider: 0}", "supply.main.divider", "above 0"),
            ("supply:\n  main: {iio: \"iio:device0\", channel: -1, divider: 2}", "supply.main.channel", "0 or more"),
            (
                "supply:\n  main: {iio: \"/dev/mem\", channel: 1, divider: 2}", "supply.main.iio",
                "not an IIO device name"
            ),
            (
                "supply:\n  main: {iio: \"iio:device0\", channel: 1, divider: lots}", "supply.main.divider",
                "expected a number"
            ),
            ("supply:\n  backup: {power_supply: battery, channel: 2}", "supply.backup", "belong to an iio source"),
            ("supply:\n  mains: {power_supply: ac}", "supply.mains", "unknown"),
            ("supply: {}", "supply", "empty supply section"),
        ])
    func problems(_ yaml: String, _ key: String, _ message: String) {
        let result = parse(yaml)
        #expect(result.board == nil)
        #expect(
            result.problems.contains { $0.key == key && $0.message.contains(message) },
            "\(result.problems.map(\.description))")
    }
}
