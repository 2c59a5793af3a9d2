import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The browser the desk's tests drive is started with posix_spawn, in the one process every suite shares.
@Suite("The test browser inherits no descriptor of the test process", .timeLimit(.minutes(1)))
struct DevToolsInheritanceTests {
    @Test(
        "a pipe the test process holds while the browser starts (not close-on-exec, as Foundation's pipes) does not reach chromium"
    )
    func noInheritedPipe() async throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer {
            close(fds[0])
            close(fds[1])
        }
        let browser = try DevTools()
        defer { browser.close() }
        // Up and answering: anything it would close of what it inherited, it has closed by now.
        _ = try await browser.newPage("about:blank")
        var info = stat()
        try #require(fstat(fds[1], &info) == 0)
        let target = "pipe:[\(info.st_ino)]"
        let fileManager = FileManager.default
        let held = try fileManager.contentsOfDirectory(atPath: "/proc/\(browser.pid)/fd").filter {
            (try? fileManager.destinationOfSymbolicLink(atPath: "/proc/\(browser.pid)/fd/\($0)")) == target
        }
        #expect(
            held.isEmpty,
            "chromium holds the test process's pipe (fd \(held)): a read of that pipe to its end would wait for the browser to stop"
        )
    }
}
