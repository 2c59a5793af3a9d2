import Foundation
import NMEA
import PanicCore
import PanicHardware
import PanicLinux
import Testing

@Suite("Pseudo-terminal reader", .timeLimit(.minutes(2)))
struct GNSSPTYTests {
    @Test("NMEA written into a pty's master is read from the slave and framed into fixes")
    func ptyIntoFramer() async throws {
        let pty = try PseudoTerminal()
        let source = PTYSource(path: pty.slavePath, baud: 9600)
        let stream = try source.chunks()
        let lines = [
            "$GPRMC,223251.00,A,3757.92653,N,12231.94543,W,0.068,338.51,210416,0.00,E,A,V*5B\r\n",
            "$GPGGA,223251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,*6C\r\n",
            "$GPGGA,223252.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,*6F\r\n",
        ]
        // Written in uneven pieces so sentences straddle reads.
        let bytes = Array(lines.joined().utf8)
        try pty.write(Array(bytes[0..<50]))
        try pty.write(Array(bytes[50..<131]))
        try pty.write(Array(bytes[131...]))
        var decoder = NMEADecoder()
        var fixes: [GNSSFix] = []
        for try await chunk in stream {
            decoder.feed(chunk.bytes, at: chunk.receivedAt) { fixes.append($0) }
            if decoder.statistics.accepted == 3 { break }
        }
        #expect(fixes.count == 1)
        #expect(fixes.first?.date == UTCDate(year: 2016, month: 4, day: 21))
        #expect(fixes.first?.mode == .threeD)
        #expect(decoder.statistics.rejected == 0)
        pty.close()
    }

    @Test(
        "a linked pty never blocks its writer: with nobody reading, old epochs are flushed, new ones readable",
        .timeLimit(.minutes(1)))
    func linkedOfferNeverBlocks() async throws {
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("pty-link-\(UUID())").path
        let pty = try PseudoTerminal(link: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == pty.slavePath)
        let epoch = Array(
            "$GPGGA,223251.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,*6C\r\n".utf8)
        // Far more than a pty's queue holds: a blocking writer would hang here.
        for _ in 0..<20_000 { pty.offer(epoch) }
        // A reader arriving late gets whole, current sentences through the link.
        let stream = try PTYSource(path: link, baud: 9600).chunks()
        pty.offer(Array("$GPGGA,223252.00,3757.92653,N,12231.94543,W,1,05,1.20,9.2,M,-25.1,M,,*6F\r\n".utf8))
        var decoder = NMEADecoder()
        for try await chunk in stream {
            decoder.feed(chunk.bytes, at: chunk.receivedAt) { _ in }
            if decoder.statistics.accepted >= 1 { break }
        }
        #expect(decoder.statistics.accepted >= 1)
        pty.close()
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil, "close removes the link")
    }

    @Test("a linked pty refuses to replace a file that is not a link, naming the call and path")
    func linkOverRegularFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pty-file-\(UUID())").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try PseudoTerminal(link: path)
        } throws: { error in
            "\(error)".contains("symlink") && "\(error)".contains(path)
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    }

    @Test("cancelling the reading task stops the reader thread and ends the stream")
    func cancellation() async throws {
        let pty = try PseudoTerminal()
        let stream = try PTYSource(path: pty.slavePath).chunks()
        let task = Task {
            var count = 0
            for try await _ in stream { count += 1 }
            return count
        }
        try pty.write(Array("$GPTXT,01,01,02,hello*00\r\n".utf8))
        task.cancel()
        // Cancellation must end the iteration: if the reader thread did not stop, this await would never return.
        let outcome = await task.result
        #expect((try? outcome.get()).map { $0 <= 1 } ?? true)
        // The descriptor is closed by the reader's exit handler; the pty's master still works.
        try pty.write(Array("$GPTXT,01,01,02,after*00\r\n".utf8))
        pty.close()
    }

    @Test("closing the master side ends the slave's stream (EOF or EIO), never a hang")
    func hangUp() async throws {
        let pty = try PseudoTerminal()
        let stream = try PTYSource(path: pty.slavePath).chunks()
        pty.close()
        var ended = false
        do {
            for try await _ in stream {}
            ended = true
        } catch let error as SerialIOError {
            #expect(error.call == "read")
            ended = true
        }
        #expect(ended)
    }

    @Test("opening a missing tty names open() and the errno")
    func missingDevice() {
        #expect {
            _ = try PTYSource(path: "/dev/does-not-exist-gnss").open()
        } throws: { error in
            guard let error = error as? SerialIOError else { return false }
            return error.call == "open" && error.errno == .noSuchFileOrDirectory
        }
    }
}
