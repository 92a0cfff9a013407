// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ptc-backup",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ptc-backup", targets: ["ptc-backup"]),
        .executable(name: "ptc-sample", targets: ["ptc-sample"]),
        .library(name: "BackupCore", targets: ["BackupCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // C libraries from the system (Debian's -dev packages), found through pkg-config.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),

        // C code Swift cannot express: a pass-through SQLite VFS that reports writes (prefix cbk_).
        .target(name: "CBackupShims", dependencies: ["CSQLite"]),

        // The system calls swift-system does not wrap (fsync, rename, mkdir, readdir) and what differs by platform.
        .target(name: "BackupSystem", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),

        // Thin safe wrappers, one per C library, each with its own error type.
        .target(name: "BackupSQLite", dependencies: ["CSQLite", "CBackupShims", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "BackupArchive", dependencies: ["CArchive", "CZstd", "BackupSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "BackupDigest", dependencies: ["COpenSSL", "CSodium", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "BackupHTTP", dependencies: ["CCurl", .product(name: "SystemPackage", package: "swift-system")]),
        // The age v1 file format (age-encryption.org/v1): only its framing here, every primitive from libsodium.
        .target(name: "BackupAge", dependencies: ["CSodium", "BackupSystem", .product(name: "SystemPackage", package: "swift-system")]),
        // Where archives are kept: one protocol, a local folder, WebDAV, S3 (SigV4 needs HMAC-SHA256).
        .target(name: "BackupStore", dependencies: ["BackupHTTP", "BackupDigest", "BackupSystem", .product(name: "SystemPackage", package: "swift-system")]),

        // The project's own SQL and JSON Schema, carried as resources, and the schema eras built from them.
        .target(name: "PlanToCodeSchema", dependencies: ["BackupSQLite"], path: "Schema", exclude: ["README.md"],
                resources: [.copy("sql"), .copy("json")]),

        // The config file: named remotes and profiles as validated values, secrets resolved at use.
        .target(name: "BackupConfig", dependencies: ["BackupModel", .product(name: "TOMLKit", package: "TOMLKit")]),

        // Versioned Codable types: the archive manifest and the --json reports.
        .target(name: "BackupModel"),

        // The prune policy (restic's forget rules) as pure values and functions: archive names in, keep/remove with reasons out.
        .target(name: "BackupRetention", dependencies: ["BackupModel"]),

        // Operations: export, inspect, verify, list, import (merge, restore), migrate, remote transfers; BackupError.
        .target(name: "BackupCore", dependencies: [
            "BackupSQLite", "BackupArchive", "BackupDigest", "BackupModel", "BackupRetention", "BackupStore", "BackupSystem", "PlanToCodeSchema",
            "BackupConfig", "BackupAge",
            .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system"),
        ]),

        // The sample-database generator (library + CLI), used by the tests, the demo and the benchmark.
        .target(name: "SampleGenerator", dependencies: ["BackupSQLite", "BackupDigest", "PlanToCodeSchema"],
                path: "Samples/Generator"),
        .executableTarget(name: "ptc-sample", dependencies: [
            "SampleGenerator", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Samples/GeneratorCLI"),

        // The command-line tool: parsing, rendering, exit codes.
        .executableTarget(name: "ptc-backup", dependencies: [
            "BackupCore", "BackupModel", "BackupConfig",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"), .product(name: "SystemPackage", package: "swift-system"),
        ]),

        .target(name: "BackupTestSupport", dependencies: ["BackupCore", "BackupModel", "BackupSQLite", "BackupArchive", "BackupDigest", "SampleGenerator",
                                                   .product(name: "SystemPackage", package: "swift-system")],
                path: "Tests/BackupTestSupport"),
        .testTarget(name: "BackupSQLiteTests", dependencies: ["BackupSQLite", "BackupTestSupport"]),
        .testTarget(name: "BackupStoreTests", dependencies: ["BackupStore", "BackupDigest", "BackupHTTP", "BackupTestSupport"]),
        .testTarget(name: "BackupHTTPTests", dependencies: ["BackupHTTP", "BackupDigest", "BackupTestSupport"]),
        .testTarget(name: "BackupArchiveTests", dependencies: ["BackupArchive", "BackupDigest", "BackupTestSupport",
                                                          .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "BackupCoreTests", dependencies: [
            "BackupCore", "BackupConfig", "BackupModel", "BackupSQLite", "BackupArchive", "BackupDigest", "SampleGenerator", "BackupTestSupport",
        ]),
        .testTarget(name: "BackupAgeTests", dependencies: ["BackupAge", "BackupDigest", "BackupTestSupport",
                                                      .product(name: "SystemPackage", package: "swift-system")],
                    resources: [.copy("Resources")]),
        .testTarget(name: "BackupRetentionTests", dependencies: ["BackupRetention", "BackupModel"]),
        // The command-line tool's pure parts (the progress line), compiled from the executable target.
        .testTarget(name: "CLITests", dependencies: ["ptc-backup"]),
        .testTarget(name: "EndToEndTests", dependencies: ["BackupTestSupport", "BackupCore", "BackupModel", "BackupSQLite", "SampleGenerator"]),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
