import Logging
import NMEA
import PanicCore
import PanicHardware
import Synchronization
import Testing

@testable import PanicLinux

extension HIL {
    /// The daemon's serial path (`GNSSSerialSource` over libserialport) on the guest's 16550, `/dev/ttyS1`,
    /// whose far end is the receiver scripts/hil/run.py plays from the host.
    @Suite("GNSS over a real UART")
    struct Serial {
        /// Reads the port the way the daemon does, into an inbox, and decodes what arrives.
        final class Reader: Sendable {
            let chunks: Inbox<GNSSChunk>
            /// One value each time a port this reader opened has been closed by its reading thread.
            let closes: Inbox<Void>
            /// One value each time it opened one.
            let opens: Inbox<Void>
            let task: Task<Void, Never>
            let decoder = Mutex(NMEADecoder())
            let log: CapturingLog

            /// Opens the port before returning, so the receiver's answers to commands sent next are heard (a
            /// closed 8250 drops what it receives).
            init() async throws {
                let chunks = Inbox<GNSSChunk>()
                let closes = Inbox<Void>()
                let opens = Inbox<Void>()
                let log = CapturingLog()
                self.log = log
                let clock = SystemMonotonicClock()
                /// Opens the port, counting it, so `stop` can wait for each close.
                @Sendable func open() throws(SerialPortError) -> AsyncThrowingStream<GNSSChunk, any Error> {
                    let stream = try SerialPort(path: SimReceiver.port).chunks(baud: 9600, clock: clock) {
                        closes.put(())
                    }
                    opens.put(())
                    return stream
                }
                let opened = Mutex<AsyncThrowingStream<GNSSChunk, any Error>?>(try await Self.openFirst(open))
                // The source's own opener after that first time: what the daemon's does.
                let source = GNSSSerialSource(path: SimReceiver.port, clock: clock, logger: log.logger) {
                    if let first = opened.withLock({ $0.take() }) { return first }
                    return try open()
                }
                self.chunks = chunks
                self.closes = closes
                self.opens = opens
                task = Task {
                    do {
                        try await source.run { chunks.put($0) }
                        chunks.finish()
                    } catch {
                        chunks.finish(error)
                    }
                }
            }

            /// Feeds chunks to the decoder until a fix whose receiver time is `second` past 10:15 comes out.
            func fix(at second: Int, _ what: String) async throws -> GNSSFix {
                while true {
                    let received: GNSSChunk?
                    do {
                        received = try await chunks.next(what)
                    } catch let timedOut as TimedOut {
                        throw NothingDecoded(timedOut: timedOut, reader: self)
                    }
                    let chunk = try #require(received)
                    var fixes: [GNSSFix] = []
                    // A chunk is whatever the 16550's FIFO held: sentences arrive in pieces. The host ends each
                    // blob with the start of the next epoch, which closes the one awaited.
                    decoder.withLock { decoder in
                        decoder.feed(chunk.bytes, at: chunk.receivedAt) { fixes.append($0) }
                    }
                    if let fix = fixes.first(where: { $0.time?.second == second }) { return fix }
                }
            }

            deinit { task.cancel() }

            /// Runs `body` with a reader, then stops it and waits until its port is closed: the next test opens
            /// the same `/dev/ttyS1`, and libserialport refuses a port still open (`sp_open` failed with EAGAIN
            /// when the previous reader's close had only been requested by its `deinit`).
            static func reading(_ body: (Reader) async throws -> Void) async throws {
                let reader = try await Reader()
                do {
                    try await body(reader)
                } catch {
                    try? await reader.stop()
                    throw error
                }
                try await reader.stop()
            }

            /// The first open, retried while the kernel answers EAGAIN: after the previous test's reader closed
            /// `/dev/ttyS1`, the tty's release can still be pending (deferred work, slow on the TCG guest), and
            /// `tty_reopen` refuses a tty whose count is 0 with EAGAIN until it is gone. The daemon's own source
            /// re-opens with backoff after any failure (`GNSSSerialSource`); this first open is the test's.
            static func openFirst(
                _ open: @Sendable () throws(SerialPortError) -> AsyncThrowingStream<GNSSChunk, any Error>
            ) async throws -> AsyncThrowingStream<GNSSChunk, any Error> {
                var attempt = 0
                while true {
                    attempt += 1
                    let result = Result { () throws(SerialPortError) in try open() }
                    switch result {
                    case .success(let stream): return stream
                    case .failure(let error):
                        guard error.errno == .resourceTemporarilyUnavailable, attempt < 40 else { throw error }
                        try await ContinuousClock().sleep(for: .milliseconds(50))
                    }
                }
            }

            /// Cancels the reading task, waits for it to end, then for the reading thread to close each port it
            /// opened: a tty open twice has one input queue, and a previous reader's thread still polling it would
            /// take the next test's bytes.
            func stop() async throws {
                task.cancel()
                await task.value
                for _ in opens.history {
                    _ = try await closes.next("the reading thread closing /dev/ttyS1")
                }
            }
        }

        /// A wait for a fix that timed out, with what the reader did receive: the bytes, the decoder's counts and
        /// the source's log, so a failure in the guest says whether the line was silent or the bytes undecodable.
        struct NothingDecoded: Error, CustomStringConvertible {
            let description: String

            init(timedOut: TimedOut, reader: Reader) {
                let bytes = reader.chunks.history.flatMap(\.bytes)
                let tail = String(decoding: bytes.suffix(240), as: UTF8.self).debugDescription
                let statistics = reader.decoder.withLock { $0.statistics }
                let logged = reader.log.entries.withLock { $0.map { "\($0.0) \($0.1)" } }
                description =
                    "\(timedOut): \(bytes.count) bytes in \(reader.chunks.history.count) chunks from "
                    + "\(reader.opens.history.count) opens, ending \(tail); decoder accepted "
                    + "\(statistics.accepted), skipped \(statistics.skippedBytes) bytes; source logged \(logged)"
            }
        }

        @Test("libserialport opens /dev/ttyS1 and NavIC ($GI) sentences from the host decode to a fix")
        func navic() async throws {
            try await Reader.reading { reader in
                try SimReceiver.command("send navic")
                let fix = try await reader.fix(at: 30, "the NavIC epoch")
                #expect(abs(try #require(fix.latitude) - 26.9124) < 0.0001)
                #expect(abs(try #require(fix.longitude) - 75.7873) < 0.0001)
                #expect(fix.quality != .none)
                #expect(reader.decoder.withLock { $0.statistics.accepted } >= 2)
            }
        }

        @Test("bad bytes on the line are skipped or rejected, and the sentences after them still decode")
        func badBytes() async throws {
            try await Reader.reading { reader in
                try SimReceiver.command("send garbage")
                let fix = try await reader.fix(at: 30, "the epoch after the noise")
                #expect(fix.latitude != nil)
                let statistics = reader.decoder.withLock { $0.statistics }
                #expect(statistics.skippedBytes > 0)
                #expect(NMEARejectionReason.allCases.contains { statistics[$0] > 0 }, "the bad sentences were rejected")
            }
        }

        @Test("the receiver unplugged and back: the open port goes quiet, then reads again without an error")
        func unplugAndBack() async throws {
            try await Reader.reading { reader in
                try SimReceiver.command("send navic")
                _ = try await reader.fix(at: 30, "the first epoch")
                let clock = SystemMonotonicClock()
                let unplugged = clock.now
                try SimReceiver.command("unplug 1500")
                // On reconnecting, the host sends the GPS epoch at 10:15:31.
                let fix = try await reader.fix(at: 31, "the epoch after the replug")
                #expect(unplugged.duration(to: clock.now) >= .milliseconds(1400), "nothing arrived while unplugged")
                #expect(fix.latitude != nil)
                // A UART has no hang-up: the source kept its port, and never logged an outage.
                let logged = reader.log.entries.withLock { $0.map { "\($0.0) \($0.1)" } }
                #expect(logged.isEmpty, "GNSSSerialSource logged: \(logged)")
            }
        }
    }
}
