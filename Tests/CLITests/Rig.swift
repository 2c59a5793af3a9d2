import Foundation
import Testing

/// What several command-line tests set up the same way: a daemon config for the sim board, and a box enrolled at
/// a control room (both keys made by the real tools, the device registered with `controlroom devices add`).
enum Rig {
    /// A `panicd run` config for the sim board with its key, outbox (`state/outbox.sqlite`) and status socket
    /// (`status.sock`) relative to the config's folder, one backend, and `extra` lines (e.g. `rates:`) at the end.
    static func simBoardConfig(
        backend: String = "nowhere", url: String = "http://127.0.0.1:9/v1/records", roomKey: String,
        timeout: String = "1s", batchSize: Int? = nil, logLevel: String = "info", extra: String = ""
    ) -> String {
        let board = Executable.repositoryRoot.appendingPathComponent("boards/sim.yaml").path
        return """
            board: \(board)
            key: device.key
            outbox:
              path: state/outbox.sqlite
            status_socket: status.sock
            backends:
              - name: \(backend)
                url: \(url)
                controlroom_key: \(roomKey)
                timeout: \(timeout)
            \(batchSize.map { "    batch_size: \($0)" } ?? "")
            log_level: \(logLevel)
            \(extra)
            """
    }

    /// A box enrolled at a control room, its files in one folder.
    struct Enrolment {
        /// The device id.
        var device: String
        /// The control room's public key (the `x:` line of `controlroom identity`), as a box pins it.
        var roomKey: String
        /// `controlroom identity`'s whole output (what `panicd sim --controlroom-key` reads).
        var roomIdentity: String
    }

    /// Makes `cr.key` and `device.key` in `directory` and registers the device in the control room's `database`.
    static func enrol(in directory: URL, database: String) throws -> Enrolment {
        let panicd = Executable("panicd")
        let controlroom = Executable("controlroom")
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        #expect(try controlroom.run(["keygen", "--out", path("cr.key")]).status == 0)
        let roomIdentity = try controlroom.run(["identity", "--key", path("cr.key")]).stdout
        let roomKey = try #require(
            roomIdentity.split(separator: "\n").first { $0.hasPrefix("x: ") }.map { String($0.dropFirst(3)) })
        #expect(try panicd.run(["keygen", "--out", path("device.key")]).status == 0)
        let identity = try panicd.run(["identity", "--key", path("device.key"), "--json"])
        let fields = try #require(
            try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: String])
        let device = try #require(fields["device"])
        // `--key=…` in one word: a base64url key starts with `-` one time in 64, and would read as an option.
        let added = try controlroom.run([
            "devices", "add", "--db", database, "--id", device, "--key=" + (try #require(fields["publicKey"])),
        ])
        #expect(added.status == 0, "\(added.stderr)")
        return Enrolment(device: device, roomKey: roomKey, roomIdentity: roomIdentity)
    }
}
