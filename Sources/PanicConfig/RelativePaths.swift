import Foundation

/// Files that name other files (the daemon configuration, scenarios) resolve relative names against their own
/// directory, so a configuration can be moved together with what it points at.
enum RelativePaths {
    /// The absolute directory holding `path` (relative paths are taken from the current directory).
    static func directory(of path: String) -> URL {
        URL(fileURLWithPath: path, relativeTo: URL.currentDirectory()).absoluteURL.deletingLastPathComponent()
    }

    /// `path` resolved against `base`; absolute paths, and every path when there is no base, stay as they are.
    static func resolve(_ path: String?, against base: URL?) -> String? {
        guard let path, let base, !path.hasPrefix("/") else { return path }
        return base.appendingPathComponent(path).standardized.path
    }
}
