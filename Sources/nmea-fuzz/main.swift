// The entry point of a plain `swift build`: nmea-fuzz then replays each file named on the command line through
// the fuzz function once (a corpus replayer, for reproducing a crash). The trick that lets one target serve both
// builds: in a plain build main.swift is top-level code, so this global is initialised eagerly at start-up;
// under `--sanitize fuzzer` SwiftPM compiles the target as a library (libFuzzer brings `main`), globals are
// lazy, and this one is never touched.
let replayedFiles = replayFilesNamedOnTheCommandLine()
