import Foundation

/// Where `panicd` finds the files it ships (the simulator's scenarios, routes and board): in the source tree when
/// run from one (`./sim`, `./boards`), else in the installed share directory — `$PANICBRIDGE_SHARE` when set, the
/// `share/panicbridge` beside the executable's `bin/` (`/usr/local/bin` → `/usr/local/share/panicbridge`), then
/// `/usr/share/panicbridge` (the Debian package's).
enum SharedFiles {
    static let installed = "/usr/share/panicbridge"

    /// The directories searched, in order.
    static func roots(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        if let share = environment["PANICBRIDGE_SHARE"], !share.isEmpty { roots.append(share) }
        if let executable = Bundle.main.executableURL {
            roots.append(
                executable.deletingLastPathComponent().appendingPathComponent("../share/panicbridge").standardized.path)
        }
        roots.append(installed)
        return roots
    }

    /// `relative` (e.g. `sim/scenarios/demo.yaml`) under the first root that has it; `relative` itself when none
    /// does (the error then names the path that was looked for).
    static func locate(_ relative: String) -> String {
        for root in roots() {
            let path = URL(fileURLWithPath: root).appendingPathComponent(relative).path
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return relative
    }
}
