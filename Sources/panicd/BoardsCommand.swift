import ArgumentParser
import Foundation
import PanicConfig
import PanicCore
import PanicLinux

/// `panicd boards …`: board definition files.
struct BoardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boards",
        abstract: "Work with board definition files (boards/*.yaml).",
        subcommands: [Check.self]
    )

    /// `panicd boards check [FILE…]`: validate board files and name every problem.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate board files; with no FILE, every *.yaml in the boards directory.",
            discussion: """
                Each problem is printed as FILE:LINE:COLUMN: KEY: what is wrong [kind]. \
                The exit code is 1 when any file has a problem. For GPIO boards it also says which libgpiod \
                panicd would open (libgpiod.so.3 or libgpiod.so.2), or warns that neither can be loaded.
                """
        )

        @Argument(help: "Board files to check.")
        var files: [String] = []

        @Option(
            help: "Directory searched when no FILE is given (default: ./boards, then /usr/share/panicbridge/boards).")
        var directory: String?

        func run() throws {
            let paths = try files.isEmpty ? BoardDirectory.files(in: directory) : files
            var failed = 0
            var gpio = false
            for path in paths {
                let result = BoardFile.load(path: path)
                if result.isValid, let board = result.board {
                    gpio = gpio || board.backend == .gpiod
                    let gnss = board.gnss.gpsd.map { "gpsd \($0)" } ?? "\(board.gnss.port) @ \(board.gnss.baud) baud"
                    print(
                        "ok    \(path): \(board.model) — \(board.inputs.count) inputs, \(board.outputs.count) outputs, "
                            + "GNSS \(gnss)"
                    )
                } else {
                    failed += 1
                    for problem in result.problems {
                        let place = [path, problem.line.map(String.init), problem.column.map(String.init)]
                            .compactMap { $0 }.joined(separator: ":")
                        let key = problem.key.isEmpty ? "" : "\(problem.key): "
                        print("error \(place): \(key)\(problem.message) [\(problem.kind.rawValue)]")
                    }
                }
            }
            print("\(paths.count - failed) of \(paths.count) board files valid")
            // Valid files, but a GPIO board runs only where panicd can open libgpiod: say which, or why not.
            if gpio {
                switch GPIODLibrary.shared {
                case .success(let library): print("libgpiod: \(library.api), opened as \(library.path)")
                case .failure(let error): print("warning: GPIO boards cannot run here: \(error)")
                }
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

/// Finds the shipped board files.
enum BoardDirectory {
    static let searchPath = ["boards", "/usr/share/panicbridge/boards"]

    static func files(in directory: String?) throws -> [String] {
        let manager = FileManager.default
        let candidates = directory.map { [$0] } ?? searchPath
        guard let found = candidates.first(where: { manager.fileExists(atPath: $0) }) else {
            throw ValidationError("no boards directory: looked in \(candidates.joined(separator: ", "))")
        }
        let names = try manager.contentsOfDirectory(atPath: found).filter { $0.hasSuffix(".yaml") }.sorted()
        guard !names.isEmpty else { throw ValidationError("no *.yaml board files in \(found)") }
        return names.map { "\(found)/\($0)" }
    }
}
