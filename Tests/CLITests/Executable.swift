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
