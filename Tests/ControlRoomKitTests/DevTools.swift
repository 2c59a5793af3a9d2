import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why a DevTools call failed.
struct DevToolsError: Error, CustomStringConvertible {
    var description: String
}

/// Debian's chromium, headless, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: the
/// browser reads commands on its fd 3 and writes answers and events on fd 4, each JSON message ended by a NUL
/// byte). No network port and no WebSocket client needed. A reader thread delivers each answer to the call
/// waiting for it.
final class DevTools: Sendable {
    /// Debian's chromium (`make deps` installs it): the binary itself, not the /usr/bin wrapper script, so the
    /// process started is the browser and stopping it stops the browser.
    static let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    let pid: pid_t

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()
    private let commands: Int32
    private let profile: String
    private let nextID = Mutex(0)
    private let pending = Mutex<[Int: CheckedContinuation<Data, any Error>]>([:])
    private let ended = Mutex(false)

    init() throws {
        guard let chromium = Self.chromium else {
            throw DevToolsError(description: "chromium is not installed: `make deps` installs Debian's chromium")
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)").path
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else {
            throw DevToolsError(description: "pipe failed: errno \(errno)")
        }
        // Close-on-exec: only the two ends moved to fd 3 and 4 reach the browser.
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Nothing else of this test process reaches the browser: posix_spawn passes on every descriptor not marked
        // close-on-exec, and Foundation's pipes are not. A browser started while another test held a pipe to its
        // own child (a command-line test reading a daemon's output to its end) would keep that pipe's write end
        // open until the browser stopped — and that test's read blocking a thread of the cooperative pool all along.
        // (glibc 2.34's posix_spawn_file_actions_addclosefrom_np, found at run time: Swift's Glibc module leaves it out.)
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 5) == 0 else {
            throw DevToolsError(
                description: "posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later)")
        }
        let arguments = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--remote-debugging-pipe", "--window-size=1920,1080",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--user-data-dir=\(profile)", "about:blank",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        // Its own process group, so stopping it stops its renderer and utility processes too.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var child: pid_t = 0
        let rc = posix_spawn(&child, chromium, &actions, &attributes, &argv, environ)
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        guard rc == 0 else {
            Glibc.close(toBrowser[1])
            Glibc.close(fromBrowser[0])
            throw DevToolsError(description: "posix_spawn \(chromium) failed: errno \(rc)")
        }
        pid = child
        commands = toBrowser[1]
        let answers = fromBrowser[0]
        let thread = Thread { [self] in readAnswers(answers) }
        thread.start()
    }

    /// Stops the browser and removes its profile.
    func close() {
        kill(-pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        kill(-pid, SIGKILL)
        Glibc.close(commands)
        try? FileManager.default.removeItem(atPath: profile)
    }

    private func readAnswers(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var message: [UInt8] = []
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            for byte in buffer[0..<count] {
                if byte == 0 {
                    deliver(Data(message))
                    message.removeAll(keepingCapacity: true)
                } else {
                    message.append(byte)
                }
            }
        }
        Glibc.close(fd)
        ended.withLock { $0 = true }
        let waiting = pending.withLock { pending in
            defer { pending.removeAll() }
            return pending.values
        }
        for call in waiting { call.resume(throwing: DevToolsError(description: "chromium closed the pipe")) }
    }

    private func deliver(_ data: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let id = object["id"] as? Int
        else { return }  // an event: these tests wait on page state instead
        pending.withLock { $0.removeValue(forKey: id) }?.resume(returning: data)
    }

    /// Sends one command and returns its `result` (throws its `error`).
    @discardableResult
    func call(_ method: String, _ params: [String: Any] = [:], session: String? = nil) async throws -> [String: Any] {
        let id = nextID.withLock {
            $0 += 1
            return $0
        }
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        let frozen = bytes
        let answer = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
            let closed = ended.withLock { ended in
                if !ended { pending.withLock { $0[id] = continuation } }
                return ended
            }
            if closed {
                continuation.resume(throwing: DevToolsError(description: "chromium is not running"))
                return
            }
            var offset = 0
            while offset < frozen.count {
                let written = frozen[offset...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
                if written < 0, errno == EINTR { continue }
                if written <= 0 { break }
                offset += written
            }
        }
        let object = try JSONSerialization.jsonObject(with: answer) as? [String: Any] ?? [:]
        if let error = object["error"] as? [String: Any] {
            throw DevToolsError(description: "\(method): \(error["message"] ?? error)")
        }
        return object["result"] as? [String: Any] ?? [:]
    }

    /// Opens a page and attaches to it.
    func newPage(_ url: String) async throws -> Page {
        let target = try await call("Target.createTarget", ["url": url])
        let targetID = try require(target["targetId"] as? String, "targetId")
        let attached = try await call("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        return Page(tools: self, session: try require(attached["sessionId"] as? String, "sessionId"))
    }

    /// One tab.
    struct Page: Sendable {
        let tools: DevTools
        let session: String

        @discardableResult
        func call(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
            try await tools.call(method, params, session: session)
        }

        /// Runs `expression` in the page (awaiting a promise) and returns its value as JSON text.
        func evaluate(_ expression: String) async throws -> String {
            let result = try await call(
                "Runtime.evaluate",
                [
                    "expression":
                        "Promise.resolve((async () => (\(expression)))()).then((v) => JSON.stringify(v ?? null))",
                    "awaitPromise": true, "returnByValue": true,
                ])
            if let exception = result["exceptionDetails"] as? [String: Any] {
                let detail = (exception["exception"] as? [String: Any])?["description"] ?? exception["text"] ?? ""
                throw DevToolsError(description: "evaluate: \(detail)")
            }
            return ((result["result"] as? [String: Any])?["value"] as? String) ?? "null"
        }

        /// Waits (in the page, checking every 10 ms) until `condition` is true, for at most `seconds`; retried
        /// across a navigation, whose old page context goes away mid-wait.
        func waitFor(_ condition: String, seconds: Int = 15) async throws {
            let wait = """
                new Promise((ok, fail) => { const start = Date.now(); const check = () => {
                  let value = false; try { value = (\(condition)); } catch (e) {}
                  if (value) return ok(true);
                  if (Date.now() - start > \(seconds * 1000)) return fail(new Error('timed out'));
                  setTimeout(check, 10); }; check(); })
                """
            var lastError: (any Error)?
            for _ in 0..<5 {
                do {
                    _ = try await evaluate(wait)
                    return
                } catch let error as DevToolsError {
                    if error.description.contains("timed out") {
                        throw DevToolsError(description: "timed out after \(seconds) s waiting for \(condition)")
                    }
                    lastError = error  // the page navigated mid-wait: wait again in the new one
                }
            }
            throw DevToolsError(description: "waiting for \(condition): \(lastError.map { "\($0)" } ?? "failed")")
        }

        /// Presses the mouse at the centre of the element `selector` (scrolled into view), holds it for `hold`,
        /// and releases it: a real click as the browser's input pipeline sees it.
        func click(_ selector: String, hold: Duration = .milliseconds(80)) async throws {
            let box = try await evaluate(
                """
                (() => { const e = document.querySelector(\(Self.quoted(selector))); if (!e) return null;
                  e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();
                  return [r.left + r.width / 2, r.top + r.height / 2]; })()
                """)
            guard
                let point = try JSONSerialization.jsonObject(with: Data(box.utf8), options: .fragmentsAllowed)
                    as? [Double], point.count == 2
            else { throw DevToolsError(description: "no element \(selector) to click") }
            let at: [String: Any] = ["x": point[0], "y": point[1], "button": "left", "clickCount": 1]
            try await call("Input.dispatchMouseEvent", at.merging(["type": "mouseMoved"]) { $1 })
            try await call("Input.dispatchMouseEvent", at.merging(["type": "mousePressed"]) { $1 })
            try await Task.sleep(for: hold)
            try await call("Input.dispatchMouseEvent", at.merging(["type": "mouseReleased"]) { $1 })
        }

        /// Sets the page's viewport to `width`×`height` CSS pixels (scale 1, desktop), as a monitor of that size.
        func setViewport(width: Int, height: Int) async throws {
            try await call(
                "Emulation.setDeviceMetricsOverride",
                ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
        }

        /// Where the element `selector` is, as the operator sees it without scrolling: whether its box lies wholly
        /// inside the viewport, and whether its centre is the element itself (not something drawn over it or a
        /// scroll container clipping it).
        func placement(_ selector: String) async throws -> (x: Double, y: Double, inside: Bool, onTop: Bool) {
            let found = try await evaluate(
                """
                (() => { const e = document.querySelector(\(Self.quoted(selector))); if (!e) return null;
                  const r = e.getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;
                  const top = document.elementFromPoint(x, y);
                  return [x, y, r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth
                          && r.bottom <= innerHeight, !!top && (top === e || e.contains(top))]; })()
                """)
            guard
                let value = try JSONSerialization.jsonObject(with: Data(found.utf8), options: .fragmentsAllowed)
                    as? [Any], value.count == 4, let x = value[0] as? Double, let y = value[1] as? Double,
                let inside = value[2] as? Bool, let onTop = value[3] as? Bool
            else { throw DevToolsError(description: "no element \(selector)") }
            return (x, y, inside, onTop)
        }

        /// A real click on `selector` where it is now, without scrolling anything: fails when the element is not
        /// wholly inside the viewport or something else is on top of its centre.
        func clickInViewport(_ selector: String) async throws {
            let at = try await placement(selector)
            guard at.inside, at.onTop else {
                throw DevToolsError(
                    description:
                        "\(selector) is not clickable in the viewport (inside: \(at.inside), on top: \(at.onTop))")
            }
            let point: [String: Any] = ["x": at.x, "y": at.y, "button": "left", "clickCount": 1]
            try await call("Input.dispatchMouseEvent", point.merging(["type": "mouseMoved"]) { $1 })
            try await call("Input.dispatchMouseEvent", point.merging(["type": "mousePressed"]) { $1 })
            try await call("Input.dispatchMouseEvent", point.merging(["type": "mouseReleased"]) { $1 })
        }

        /// Presses and releases a letter key on the keyboard (to whatever has the focus).
        func press(letter: Character) async throws {
            let key = String(letter).lowercased()
            let code = Int(key.uppercased().unicodeScalars.first?.value ?? 0)
            let event: [String: Any] = [
                "key": key, "code": "Key" + key.uppercased(), "windowsVirtualKeyCode": code,
                "nativeVirtualKeyCode": code,
            ]
            try await call("Input.dispatchKeyEvent", event.merging(["type": "keyDown", "text": key]) { $1 })
            try await call("Input.dispatchKeyEvent", event.merging(["type": "keyUp"]) { $1 })
        }

        /// Logs in on the login form the page shows: waits for it, types the name and password, clicks Log in.
        func logIn(_ name: String, _ password: String) async throws {
            try await waitFor("document.getElementById('submit')")
            try await type("#name", name)
            try await type("#password", password)
            try await click("#submit")
        }

        /// Focuses `selector` and types `text` as keyboard input.
        func type(_ selector: String, _ text: String) async throws {
            _ = try await evaluate("document.querySelector(\(Self.quoted(selector))).focus()")
            try await call("Input.insertText", ["text": text])
        }

        /// A PNG of the page.
        func screenshot() async throws -> Data {
            let result = try await call("Page.captureScreenshot", ["format": "png"])
            return Data(base64Encoded: result["data"] as? String ?? "") ?? Data()
        }

        static func quoted(_ text: String) -> String {
            let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
            return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
        }
    }
}

/// `#require` for code outside a test body.
private func require<T>(_ value: T?, _ what: String) throws -> T {
    guard let value else { throw DevToolsError(description: "missing \(what)") }
    return value
}
