import Testing

/// Every command-line test runs a child process and blocks a thread while it waits for it. Run them one at a time,
/// so that on a two-core CI machine they never hold every thread of the cooperative pool and starve the async
/// tests (HTTP on loopback) running beside them.
@Suite("Command-line tools (one child process at a time)", .serialized, .timeLimit(.minutes(20)))
enum CLISuite {}
