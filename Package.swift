// swift-tools-version:6.2
// PanicBridge: panic-button boxes for buses, taxis and pink booths, and their reference control room.
//
// Module graph (who may import whom) is documented in README.md → Architecture. The rule that matters:
// pure logic (NMEA, PanicCore) imports no backend and no C module; backends depend on the seam, never the reverse.
import PackageDescription

/// Settings every project target shares: Swift 6 strict concurrency, and no warnings allowed.
let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "PanicBridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "panicd", targets: ["panicd"]),
        .executable(name: "controlroom", targets: ["controlroom"]),
        .executable(name: "gnss-bench", targets: ["gnss-bench"]),
        .executable(name: "nmea-fuzz", targets: ["nmea-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The operator desk's password hashes (bcrypt; only the HummingbirdBcrypt product is used).
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        // Already in the graph through the two above; named so the uplink can set TLS trust roots.
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        // In the graph through Hummingbird; named so the control room's connection deadlines can read HTTP parts.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // The control room's PostgreSQL store (ControlRoomPostgres only: the box side never links it).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // The control room's /metrics: the swift-metrics API in ControlRoomKit, the Prometheus backend in controlroom.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // MARK: C libraries, found through pkg-config; each is a modulemap plus a one-line shim header.
        // CGPIOD is the exception: no library and no system header, only the declarations the GPIO backend needs
        // to call libgpiod 1.6 or 2.x, which panicd opens at run time (PanicLinux/GPIODLibrary.swift).
        .systemLibrary(name: "CGPIOD", path: "Sources/CGPIOD"),
        .systemLibrary(
            name: "CSerialPort",
            path: "Sources/CSerialPort",
            pkgConfig: "libserialport",
            providers: [.apt(["libserialport-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            path: "Sources/CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // MARK: Pure logic: no I/O, no C, time passed in.
        .target(name: "NMEA", dependencies: ["PanicCore"], swiftSettings: strict),
        .target(name: "PanicCore", swiftSettings: strict),

        // MARK: The hardware seam and its two sides.
        .target(name: "PanicHardware", dependencies: ["PanicCore", "NMEA"], swiftSettings: strict),
        .target(
            name: "PanicLinux",
            dependencies: [
                "PanicHardware", "PanicCore", "NMEA", "CGPIOD", "CSerialPort",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "PanicSim", dependencies: ["PanicHardware", "PanicCore", "NMEA"], swiftSettings: strict),

        // MARK: Files, keys, storage and delivery.
        .target(
            name: "PanicConfig",
            dependencies: ["PanicCore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        .target(
            name: "PanicSigning",
            dependencies: ["PanicCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "PanicSQLite", dependencies: ["CSQLite"], swiftSettings: strict),
        .target(
            name: "PanicStore",
            dependencies: ["PanicCore", "PanicSQLite", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "PanicUplink",
            dependencies: [
                "PanicCore", "PanicStore", "PanicSigning", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                // AIS-140 over TCP and its reference receiver (already in the graph through async-http-client).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),

        // MARK: Composition roots and executables.
        .target(
            name: "PanicDaemon",
            dependencies: [
                "PanicCore", "NMEA", "PanicHardware", "PanicLinux", "PanicSim", "PanicConfig", "PanicSigning",
                "PanicStore", "PanicUplink",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The status socket (already in the graph through async-http-client).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PanicSimulation",
            dependencies: [
                "PanicCore", "PanicHardware", "PanicLinux", "PanicSim", "PanicConfig", "PanicSigning", "PanicStore",
                "PanicUplink", "PanicDaemon", "ControlRoomKit", "ControlRoomDesk",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // The OsmAnd reference receiver (Hummingbird is in the graph through ControlRoomKit).
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                // The chaos proxy's HTTP server side.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ControlRoomKit",
            dependencies: [
                "PanicCore", "PanicSigning", "PanicSQLite", .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                // The RFC 3161 time-stamping request of an evidence export; escalation webhooks.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The operator desk over a control room: its HTTP routes, login, sessions' cookies, CSRF, the push channel,
        // the page's files, the map's tiles, escalation. ControlRoomKit knows nothing of it: a server gets the desk
        // through `ControlRoomServer.router(installDesk:)`.
        .target(
            name: "ControlRoomDesk",
            dependencies: [
                "ControlRoomKit", "PanicCore", "PanicSQLite", .product(name: "Logging", package: "swift-log"),
                // The SMSModem seam: escalation by SMS through the control room's own modem.
                "PanicHardware",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                // Escalation webhooks.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The desk's pages, scripts and style sheets: files, compiled into the binary as byte arrays
            // (`PackageResources.desk_js`...), so the package still ships one executable and nothing beside it.
            resources: [
                .embedInCode("Assets/desk.html"), .embedInCode("Assets/desk.js"), .embedInCode("Assets/desk.css"),
                .embedInCode("Assets/login.html"), .embedInCode("Assets/login.js"),
                .embedInCode("Assets/login.css"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ControlRoomPostgres",
            dependencies: [
                "ControlRoomKit", "PanicCore", "PanicSigning", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "panicd",
            dependencies: [
                "PanicDaemon", "PanicSimulation", "PanicConfig", "PanicCore", "PanicSigning", "PanicStore",
                "NMEA", "PanicHardware", "PanicLinux", "PanicSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            // Packed relative relocations (DT_RELR; glibc 2.36, Debian 12): the static executable's 3.2 MB of
            // .rela.dyn, which the loader reads at every start and which stays resident, become 27 KB: 4 MB less
            // resident memory idle. gold cannot emit them, so the release link uses lld. And no dynamic symbol
            // table of every Swift symbol (the driver exports them; nothing loads panicd as a library): 3.9 MB of
            // .dynsym/.dynstr/.gnu.hash less, 1.5 MB less resident (docs/daemon.md).
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                        "--no-export-dynamic",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/dist/panicd.order",
                        "-Xlinker", "--no-warn-symbol-ordering",
                        "-Xlinker", "--script=\(Context.packageDirectory)/dist/panicd.ld",
                    ],
                    .when(platforms: [.linux], configuration: .release))
            ]
        ),
        .executableTarget(
            name: "controlroom",
            dependencies: [
                "ControlRoomKit", "ControlRoomDesk", "ControlRoomPostgres", "PanicSigning", "PanicCore",
                // GSMModem: escalation SMS through a modem on a serial port (--escalate-sms-modem).
                "PanicLinux",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // MARK: Tests mirror the modules; CLI tests run the built executables.
        .testTarget(
            name: "NMEATests", dependencies: ["NMEA", "PanicCore", "PanicHardware"],
            resources: [.copy("Fixtures")], swiftSettings: strict),
        .testTarget(name: "PanicCoreTests", dependencies: ["PanicCore"], swiftSettings: strict),
        .testTarget(name: "PanicConfigTests", dependencies: ["PanicConfig", "PanicCore"], swiftSettings: strict),
        .testTarget(
            name: "PanicLinuxTests",
            dependencies: [
                "PanicLinux", "PanicHardware", "PanicCore", "NMEA", "PanicSim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "PanicSimTests", dependencies: ["PanicSim", "PanicHardware", "PanicCore"], swiftSettings: strict),
        .testTarget(
            name: "PanicSigningTests",
            dependencies: ["PanicSigning", "PanicCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(name: "PanicSQLiteTests", dependencies: ["PanicSQLite"], swiftSettings: strict),
        .testTarget(
            name: "PanicStoreTests",
            dependencies: [
                "PanicStore", "PanicCore", "PanicSigning", "PanicSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ControlRoomKitTests",
            dependencies: [
                "ControlRoomKit", "ControlRoomDesk", "ControlRoomPostgres",
                .product(name: "Prometheus", package: "swift-prometheus"),
                "PanicUplink", "PanicSigning", "PanicStore", "PanicCore",
                "PanicSQLite",
                // Escalation by SMS: GSMModem on a real pseudo-terminal, the simulated modem answering on the other side.
                "PanicLinux", "PanicHardware", "PanicSim", "PanicSimulation",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // The escalation webhook receiver checks the HMAC itself.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PanicDaemonTests",
            dependencies: [
                "PanicDaemon", "PanicSim", "PanicCore", "PanicConfig", "PanicHardware", "PanicLinux", "NMEA",
                "PanicSigning",
                "PanicStore", "PanicUplink", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "PanicSimulationTests",
            dependencies: ["PanicSimulation", "PanicConfig", "PanicCore", "PanicSim", "ControlRoomKit"],
            swiftSettings: strict),
        .testTarget(
            name: "CLITests", dependencies: ["panicd", "controlroom", "PanicCore", "PanicSigning"],
            swiftSettings: strict),
        .executableTarget(
            name: "outbox-bench",
            dependencies: [
                "PanicCore", "PanicSigning", "PanicStore", "PanicSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "gnss-bench", dependencies: ["NMEA", "PanicCore"], swiftSettings: strict),
        .executableTarget(name: "nmea-fuzz", dependencies: ["NMEA", "PanicCore"], swiftSettings: strict),
        .testTarget(
            name: "PanicUplinkTests",
            dependencies: [
                "PanicUplink", "ControlRoomKit", "PanicSigning", "PanicStore", "PanicCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "uplink-bench",
            dependencies: [
                "PanicUplink", "ControlRoomKit", "ControlRoomDesk", "PanicSigning", "PanicStore", "PanicCore",
                "PanicSQLite",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "desk-bench",
            dependencies: [
                "ControlRoomKit", "ControlRoomDesk", "PanicSigning", "PanicCore", "PanicSQLite",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "controlroom-bench",
            dependencies: [
                "ControlRoomKit", "ControlRoomDesk", "ControlRoomPostgres", "PanicSigning", "PanicCore", "PanicSQLite",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "inputs-bench",
            dependencies: ["PanicCore", "PanicHardware", "PanicLinux", "PanicSim"],
            swiftSettings: strict
        ),
    ]
)
