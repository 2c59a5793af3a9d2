import Foundation
import PanicConfig
import PanicCore
import Testing

/// A minimal valid board, as YAML lines, that each test breaks in one way.
private let validBoard = """
    board: test
    model: Test board
    chip: pinctrl-bcm2711
    inputs:
      - name: driver
        role: emergency
        line: GPIO17
        contact: normally-closed
      - name: help
        role: help
        line: 27
    outputs:
      - name: led
        role: status-led
        line: GPIO23
    gnss:
      port: /dev/panic-gnss
      baud: 9600
    """

private func problems(_ yaml: String) -> [BoardProblem] { BoardFile.parse(yaml).problems }

@Suite("Board files")
struct BoardFileTests {
    @Test("a valid board parses with defaults filled in")
    func validBoardParses() throws {
        let result = BoardFile.parse(validBoard)
        #expect(result.problems.isEmpty)
        let board = try #require(result.board)
        #expect(board.inputs.count == 2)
        #expect(board.inputs[0].line == .name("GPIO17"))
        #expect(board.inputs[0].contact == .normallyClosed)
        #expect(board.inputs[0].debounce == .milliseconds(20))
        #expect(board.inputs[0].hold == InputRole.emergency.defaultHold)
        #expect(board.inputs[1].line == .offset(27))
        #expect(board.inputs[1].contact == .normallyOpen)
        #expect(board.inputs[1].chip == "pinctrl-bcm2711")
        #expect(board.outputs[0].activeLevel == .high)
        #expect(board.gnss == GNSSPortSpec(port: "/dev/panic-gnss", baud: 9600))
    }

    @Test("an output may be a kernel LED-class LED instead of a line, and then has no line of its own")
    func ledOutput() throws {
        let yaml = validBoard.replacingOccurrences(of: "    line: GPIO23", with: "    led: panic-status")
        let board = try #require(BoardFile.parse(yaml).board)
        #expect(board.outputs[0].led == "panic-status")
        #expect(board.outputs[0].name == "led")
        let both = problems(
            validBoard.replacingOccurrences(of: "    line: GPIO23", with: "    line: GPIO23\n    led: x"))
        #expect(both.map(\.kind) == [.invalidValue])
        #expect(both.first?.key == "outputs[0].line")
        let path = problems(validBoard.replacingOccurrences(of: "    line: GPIO23", with: "    led: ../x"))
        #expect(path.map(\.key) == ["outputs[0].led"])
    }

    @Test("an unknown key is named with its path, place and a suggestion")
    func unknownKey() throws {
        let found = problems(
            validBoard.replacingOccurrences(of: "    contact: normally-closed", with: "    contcat: normally-closed"))
        let problem = try #require(found.first)
        #expect(found.count == 1)
        #expect(problem.kind == .unknownKey)
        #expect(problem.key == "inputs[0].contcat")
        #expect(problem.line == 8)
        #expect(problem.message.contains("did you mean 'contact'"))
    }

    @Test("an unknown role is its own kind of problem")
    func unknownRole() throws {
        let found = problems(validBoard.replacingOccurrences(of: "role: help", with: "role: halp"))
        #expect(found.map(\.kind) == [.unknownRole])
        #expect(found.first?.key == "inputs[1].role")
        #expect(found.first?.message.contains("emergency, help, tamper, power, ignition") == true)
    }

    @Test("a line used twice on the same chip is reported with the first user")
    func duplicateLine() throws {
        let found = problems(validBoard.replacingOccurrences(of: "line: GPIO23", with: "line: GPIO17"))
        #expect(found.map(\.kind) == [.duplicateLine])
        #expect(found.first?.key == "outputs[0].line")
        #expect(found.first?.message.contains("inputs[0]") == true)
        #expect(found.first?.line == 15)
    }

    @Test("the same line name on two different chips is not a clash")
    func sameLineOtherChip() {
        let yaml = validBoard.replacingOccurrences(
            of: "    line: GPIO23", with: "    line: GPIO17\n    chip: other-chip")
        #expect(problems(yaml).isEmpty)
    }

    @Test("a missing GNSS port is reported")
    func missingGNSSPort() {
        let found = problems(validBoard.replacingOccurrences(of: "  port: /dev/panic-gnss\n", with: ""))
        #expect(found.map(\.kind) == [.missingGNSSPort])
        let noSection = problems(String(validBoard[..<validBoard.range(of: "gnss:")!.lowerBound]))
        #expect(noSection.map(\.kind) == [.missingGNSSPort])
    }

    @Test("an impossible debounce is reported", arguments: ["0", "-5", "5000"])
    func impossibleDebounce(value: String) throws {
        let yaml = validBoard.replacingOccurrences(
            of: "    contact: normally-closed", with: "    contact: normally-closed\n    debounce_ms: \(value)")
        let found = problems(yaml)
        #expect(found.map(\.kind) == [.impossibleTiming])
        #expect(found.first?.key == "inputs[0].debounce_ms")
    }

    @Test("a wire-cut time shorter than debounce plus hold is impossible")
    func impossibleWireCut() {
        let yaml = validBoard.replacingOccurrences(
            of: "    contact: normally-closed", with: "    contact: normally-closed\n    wire_cut_ms: 100")
        #expect(problems(yaml).map(\.kind) == [.impossibleTiming])
    }

    @Test("a duplicate name is reported")
    func duplicateName() {
        let found = problems(validBoard.replacingOccurrences(of: "name: help", with: "name: driver"))
        #expect(found.map(\.kind) == [.duplicateName])
        #expect(found.first?.key == "inputs[1].name")
    }

    @Test("a YAML syntax error names line and column")
    func syntaxError() throws {
        let found = problems(validBoard.replacingOccurrences(of: "role: help", with: "role: [help"))
        let problem = try #require(found.first)
        #expect(problem.kind == .syntax)
        #expect(problem.line != nil && problem.column != nil)
        #expect(problem.message.contains("YAML syntax error"))
    }

    @Test("a key given twice is a syntax problem")
    func repeatedKey() {
        let found = problems(validBoard.replacingOccurrences(of: "model: Test board", with: "model: A\nmodel: B"))
        #expect(found.map(\.kind) == [.syntax])
        #expect(found.first?.message.contains("appears twice") == true)
    }

    @Test("a wrong type is reported with what was found")
    func wrongType() {
        let found = problems(validBoard.replacingOccurrences(of: "baud: 9600", with: "baud: fast"))
        #expect(found.map(\.kind) == [.wrongType])
        #expect(found.first?.key == "gnss.baud")
        #expect(found.first?.message.contains("'fast'") == true)
    }

    @Test(
        "YAML's null (empty, ~, null) where a string or number belongs is reported as nothing; a quoted \"null\" is the text"
    )
    func nullValues() throws {
        for null in ["", " ~", " null", " Null", " NULL"] {
            let found = problems(validBoard.replacingOccurrences(of: "model: Test board", with: "model:" + null))
            #expect(found.map(\.kind) == [.wrongType], "model:\(null)")
            #expect(found.first?.message.contains("found nothing") == true, "model:\(null): \(found)")
            let number = problems(validBoard.replacingOccurrences(of: "baud: 9600", with: "baud:" + null))
            #expect(number.first?.message.contains("found nothing") == true, "baud:\(null): \(number)")
        }
        for quoted in [#""null""#, "'~'", #""""#] {
            let board = try #require(
                BoardFile.parse(validBoard.replacingOccurrences(of: "model: Test board", with: "model: " + quoted))
                    .board)
            #expect(board.model == (quoted == #""""# ? "" : String(quoted.dropFirst().dropLast())))
        }
        // Flags and numbers are read from the text, with no tag: a plain `true` or `0x10` still means what it says.
        #expect(problems(validBoard.replacingOccurrences(of: "baud: 9600", with: "baud: 0x2580")).isEmpty)
    }

    @Test("an unusual baud rate and a non-device port are invalid values")
    func invalidValues() {
        let found = problems(
            validBoard.replacingOccurrences(of: "baud: 9600", with: "baud: 9601")
                .replacingOccurrences(of: "port: /dev/panic-gnss", with: "port: COM3"))
        #expect(Set(found.map(\.key)) == ["gnss.baud", "gnss.port"])
        #expect(found.allSatisfy { $0.kind == .invalidValue })
    }

    @Test("a board without an emergency input is rejected")
    func noEmergency() {
        let found = problems(validBoard.replacingOccurrences(of: "role: emergency", with: "role: tamper"))
        #expect(found.map(\.kind) == [.noEmergencyInput])
    }

    @Test("a missing file is a problem naming the reason, not a crash")
    func missingFile() {
        let result = BoardFile.load(path: "/nonexistent/board.yaml")
        #expect(result.board == nil)
        #expect(result.problems.first?.message.contains("cannot read the file") == true)
    }

    @Test("loading for use throws one error that names the file and every problem in it")
    func loadValidNamesFileAndProblems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("board-\(UUID()).yaml").path
        try validBoard.replacingOccurrences(of: "role: emergency", with: "role: emergancy")
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let problems = BoardFile.load(path: path).problems
        #expect(!problems.isEmpty)
        #expect {
            _ = try BoardFile.loadValid(path: path)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("board file \(path): ") && problems.allSatisfy { text.contains($0.description) }
        }
        #expect(try BoardFile.loadValid(path: Self.simBoard).inputs.isEmpty == false)
    }

    static let simBoard = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../boards/sim.yaml").standardized.path

    @Test("every shipped board file is valid")
    func shippedBoardsAreValid() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../boards"
        ).standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 5, "expected the five shipped boards, found \(files)")
        for file in files {
            let result = BoardFile.load(path: directory.appendingPathComponent(file).path)
            #expect(result.isValid, "\(file): \(result.problems)")
        }
    }
}
