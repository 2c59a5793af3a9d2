import ControlRoomKit
import ControlRoomPostgres
import Foundation
import Logging
import Testing

/// The stores the control-room suites run against.
enum StoreKind: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The environment variable with the test server's URL (`make postgres-start` prints it; `make test` sets it).
    static let postgresVariable = "PANICBRIDGE_TEST_POSTGRES"

    /// SQLite always; PostgreSQL when its URL is set, and always under CI, where a missing URL fails the PostgreSQL
    /// cases instead of leaving them out.
    static let all: [StoreKind] = {
        let environment = ProcessInfo.processInfo.environment
        let wanted = environment[postgresVariable] != nil || environment["CI"] == "true"
        return wanted ? [.sqlite, .postgres] : [.sqlite]
    }()

    /// The test server's URL.
    static func postgresServer() throws -> PostgresURL {
        guard let text = ProcessInfo.processInfo.environment[postgresVariable], !text.isEmpty else {
            throw TestStoreError(
                description:
                    "\(postgresVariable) is not set: run `make postgres-start` and export the URL it prints "
                    + "(make test does both)")
        }
        return try PostgresURL(text)
    }

    /// Runs `body` with a fresh store of this kind: a new SQLite file in `directory`, or a new PostgreSQL database
    /// (random name) on the test server, dropped afterwards.
    func withStore<T: Sendable>(
        directory: String, _ body: (any ControlRoomStore) async throws -> T
    ) async throws -> T {
        switch self {
        case .sqlite:
            return try await body(try SQLiteControlRoomStore(path: directory + "/cr.db"))
        case .postgres:
            let server = try Self.postgresServer()
            let name = "pb_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            let logger = Self.quiet
            try await PostgresControlRoomStore.createDatabase(name, server: server, logger: logger)
            do {
                let result = try await PostgresControlRoomStore.with(
                    url: server.with(database: name), logger: logger
                ) { try await body($0) }
                try await PostgresControlRoomStore.dropDatabase(name, server: server, logger: logger)
                return result
            } catch {
                try? await PostgresControlRoomStore.dropDatabase(name, server: server, logger: logger)
                throw error
            }
        }
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }
}

struct TestStoreError: Error, CustomStringConvertible {
    var description: String
}

extension StoreKind {
    /// Runs `body` with the URL of a fresh PostgreSQL database (random name) on the test server, dropped afterwards.
    static func withPostgresDatabase<T: Sendable>(_ body: (PostgresURL) async throws -> T) async throws -> T {
        let server = try postgresServer()
        let name = "pb_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await PostgresControlRoomStore.createDatabase(name, server: server, logger: quiet)
        do {
            let result = try await body(server.with(database: name))
            try await PostgresControlRoomStore.dropDatabase(name, server: server, logger: quiet)
            return result
        } catch {
            try? await PostgresControlRoomStore.dropDatabase(name, server: server, logger: quiet)
            throw error
        }
    }
}
