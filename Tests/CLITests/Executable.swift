import Foundation

/// Runs a built executable of this package and captures what it prints.
struct Executable {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    let url: URL

    /// The product `name` in the build directory the test bundle itself was built into.
    init(_ name: String) {
        var directory = Bundle.main.bundleURL
        let fileManager = FileManager.default
        // The test bundle lives in .build/<triple>/debug; walk up until the product is beside us.
        while !fileManager.isExecutableFile(atPath: directory.appendingPathComponent(name).path),
            directory.path != "/"
        {
            directory.deleteLastPathComponent()
        }
        url = directory.appendingPathComponent(name)
    }

    /// The repository root (for the shipped boards/ and fixtures).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @discardableResult
    func run(_ arguments: [String], in directory: URL = Executable.repositoryRoot, stdin: Data? = nil) throws -> Output
    {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

/// A product started in the background with its standard input and output on pipes, for tests that talk to it
/// while it runs (interactive keys, servers).
final class RunningProcess {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    /// Everything read from standard output and error so far (they share one pipe).
    private(set) var text = ""

    init(_ executable: Executable, _ arguments: [String], in directory: URL = Executable.repositoryRoot) throws {
        process.executableURL = executable.url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    /// Types `keys` into its standard input.
    func type(_ keys: String) {
        input.fileHandleForWriting.write(Data(keys.utf8))
    }

    /// Reads its output until `marker` has appeared in it (or the output ends); returns whether it did. The reads
    /// block until the program writes: nothing here waits on a timer.
    @discardableResult
    func waitFor(_ marker: String) -> Bool {
        while !text.contains(marker) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return false }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return true
    }

    /// Closes its input, reads the rest of its output and waits for it to exit.
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Stops it (SIGTERM) and waits.
    func stop() {
        if process.isRunning { process.terminate() }
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
