import Foundation
import Testing

extension CLISuite {
    @Suite("controlroom --db postgres://: errors that name the problem")
    struct PostgresErrorTests {
        @Test("a URL without a user, a refused port and an unknown database are each said plainly, without a password")
        func errors() throws {
            let controlroom = Executable("controlroom")
            let noUser = try controlroom.run(["devices", "list", "--db", "postgres://127.0.0.1/db"])
            #expect(noUser.status != 0)
            #expect(noUser.stderr.contains("--db postgres://127.0.0.1/db: no user"), "\(noUser.stderr)")
            let refused = try controlroom.run(["devices", "list", "--db", "postgres://pb:hunter2@127.0.0.1:1/db"])
            #expect(refused.status != 0)
            #expect(
                refused.stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1: Connection refused"),
                "\(refused.stderr)")
            #expect(!refused.stderr.contains("hunter2"))
            guard let server = ProcessInfo.processInfo.environment["PANICBRIDGE_TEST_POSTGRES"],
                var components = URLComponents(string: server)
            else { return }
            components.path = "/pb_no_such_database"
            let missing = try controlroom.run(["devices", "list", "--db", components.string!])
            #expect(missing.status != 0)
            #expect(missing.stderr.contains(#"database "pb_no_such_database" does not exist"#), "\(missing.stderr)")
        }
    }
}
