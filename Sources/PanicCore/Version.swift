/// The PanicBridge release this build is. `VERSION` at the top of the repository is the one place it is set:
/// `make deb` names the packages from that file, and `CLITests` fail when this constant or the `--version` of
/// either executable says anything else.
public enum PanicBridgeVersion {
    /// The release, e.g. `0.9.0` (shown by `--version`, the daemon's `starting` line and every health record).
    public static let current = "0.9.0"
}
