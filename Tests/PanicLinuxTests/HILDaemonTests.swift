import Foundation
import PanicCore
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension HIL {
    /// `panicd run` itself on boards/gpio-sim.yaml, with the host streaming NMEA into `/dev/ttyS1`.
    @Suite("panicd run on the gpio-sim board")
    struct Daemon {
        /// The binary under test and the repository, as scripts/hil/guest.sh exports them.
        static let panicd = ProcessInfo.processInfo.environment["PANICD"] ?? ""
        static let repository = ProcessInfo.processInfo.environment["PANICBRIDGE_HIL_REPO"] ?? ""

        /// The board's lines on the panic-sim bank (boards/gpio-sim.yaml).
        enum Line {
            static let driver = 0
            static let led = 6
            static let buzzer = 7
        }

        /// Runs `panicd ARGUMENTS` to the end; its standard output and exit status.
        @discardableResult
        static func panicd(_ arguments: [String], input: String? = nil) throws -> (output: String, status: Int32) {
            try Child.run(panicd, arguments, input: input.map { Array($0.utf8) })
        }

        /// The LED and buzzer levels over time. gpio-sim has no change notification for an output line, so
        /// this samples them every 10 ms, as a logic analyser would; it measures, it does not wait for anything.
        /// Ends when the task is cancelled.
        static func sample() async throws -> [(led: Bool, buzzer: Bool)] {
            var samples: [(led: Bool, buzzer: Bool)] = []
            while true {
                samples.append((try SimBank.level(Line.led), try SimBank.level(Line.buzzer)))
                do { try await Task.sleep(for: .milliseconds(10)) } catch { return samples }
            }
        }

        @Test("a press on the sim bank becomes a signed, committed record with the UART's fix; LED and buzzer react")
        func pressBecomesRecord() async throws {
            let directory = "/tmp/hil-daemon-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let key = "\(directory)/device.key"
            let outbox = "\(directory)/outbox.sqlite"
            #expect(try Self.panicd(["keygen", "--out", key]).status == 0)
            let config = """
                board: \(Self.repository)/boards/gpio-sim.yaml
                key: \(key)
                outbox:
                  path: \(outbox)
                backends:
                  # Nothing listens (the guest has no network): the box is out of coverage, so the alert stays
                  # "stored". With no backend at all the uplink never reports the alert's lifecycle.
                  - name: unreachable
                    url: http://127.0.0.1:9/v1/records
                    controlroom_key: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
                rates:
                  position: 2s
                  emergency_position: 1s
                log_level: debug
                """
            try config.write(toFile: "\(directory)/panicd.yaml", atomically: true, encoding: .utf8)

            // The receiver streams a fresh NavIC epoch every second from now on.
            try SimReceiver.command("stream live 1000")
            defer { try? SimReceiver.command("stop") }
            let daemon = try Child(Self.panicd, ["run", "--config", "\(directory)/panicd.yaml"], stderr: true)
            var stopped = false
            defer { if !stopped { kill(daemon.pid, SIGKILL) } }
            let log = Inbox<String>()
            // A thread of its own reads the log with blocking reads.
            let reader = Thread {
                var pending = ""
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(daemon.output, $0.baseAddress, $0.count) }
                    if count < 0, errno == EINTR { continue }
                    guard count > 0 else { break }
                    pending += String(decoding: buffer[0..<count], as: UTF8.self)
                    var lines = pending.split(separator: "\n", omittingEmptySubsequences: false)
                    pending = String(lines.removeLast())
                    for line in lines { log.put(String(line)) }
                }
                if !pending.isEmpty { log.put(pending) }
                close(daemon.output)
                log.finish()
            }
            reader.start()

            func logged(_ what: String, _ words: String...) async throws {
                do {
                    _ = try await log.until(what, within: .seconds(60)) { line in words.allSatisfy { line.contains($0) }
                    }
                } catch {
                    Issue.record("panicd's log so far:\n\(log.history.joined(separator: "\n"))")
                    throw error
                }
            }
            // One build serves both suites: panicd says which libgpiod it opened, the one this suite is for.
            let api = ProcessInfo.processInfo.environment["PANICBRIDGE_HIL_LIBGPIOD"] == "2" ? "2.x" : "1.6"
            try await logged("the libgpiod panicd opened", "GPIO through libgpiod \(api)")
            try await logged("panicd ready", "ready")
            // A position record means the daemon holds a fix from the UART.
            try await logged("a position record", "record stored: position")

            let sampler = Task { try await Self.sample() }
            let before = try (SimBank.level(Line.led), SimBank.level(Line.buzzer))
            try SimBank.pull(Line.driver, high: true)
            try await logged("the emergency record", "alert stored: emergency")
            // Watch the indicator for a while with the button still pressed, then let go.
            try await Task.sleep(for: .milliseconds(1500))
            try SimBank.pull(Line.driver, high: false)
            sampler.cancel()
            let samples = try await sampler.value

            kill(daemon.pid, SIGTERM)
            let status = daemon.wait()
            stopped = true
            #expect(status == 0, "panicd stops cleanly on SIGTERM")

            // The LED blinks (stored: 200/200 ms) and the buzzer chirped, on the lines themselves.
            let ledChanges = zip(samples, samples.dropFirst()).filter { $0.led != $1.led }.count
            let indicator = log.history.filter { $0.contains("indicator") || $0.contains("record stored") }
            #expect(
                ledChanges >= 3,
                "LED changes while the alert is stored: \(ledChanges) in \(samples.count) samples (before: \(before)); \(indicator)"
            )
            #expect(samples.contains { $0.buzzer }, "the buzzer sounded")

            // Committed and signed: the outbox exports it, and `panicd verify` accepts the chain.
            let exported = try Self.panicd(["outbox", "export", "--db", outbox, "--key", key])
            #expect(exported.status == 0)
            let envelopes = exported.output.split(separator: "\n").map(String.init)
            let verified = try Self.panicd(["verify", "--key", key, "-"], input: exported.output)
            #expect(verified.status == 0, "panicd verify: \(verified.output)")
            let payloads = try envelopes.map { envelope -> [String: Any] in
                let parts = envelope.split(separator: ".")
                try #require(parts.count == 3)
                var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
                let data = try #require(Data(base64Encoded: base64))
                return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            }
            let emergency = try #require(
                payloads.first { "\($0)".contains("emergency") && $0["fix"] is [String: Any] },
                "an emergency record with a fix among \(payloads.count) records")
            let fix = try #require(emergency["fix"] as? [String: Any])
            #expect(abs(try #require(fix["lat"] as? Double) - 26.9124) < 0.001)
            #expect(abs(try #require(fix["lon"] as? Double) - 75.7873) < 0.001)
        }
    }
}
