// swift-tools-version:6.0
import PackageDescription

// One settings block for every Swift target: Swift 6 language mode (strict concurrency).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "secure-chat",
    products: [
        .executable(name: "chat-server", targets: ["Server"]),
        .executable(name: "chat-client", targets: ["Client"]),
        .executable(name: "chat-bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Latency percentiles in chat-bench only.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // System OpenSSL (libssl-dev): TLS for both binaries, scrypt and RAND_bytes for the server.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // What every Swift user of OpenSSL shares, without NIO: the error queue reader and
        // scrypt (the server's password hashes, the client's vault key).
        .target(
            name: "OpenSSLSupport",
            dependencies: ["COpenSSL"],
            swiftSettings: swiftSettings
        ),
        // Real C functions for the OpenSSL macros Swift cannot import.
        .target(
            name: "COpenSSLShims",
            dependencies: ["COpenSSL"]
        ),
        // GDBM (libgdbm-dev). Debian ships no gdbm.pc, so the module map links it by name.
        .systemLibrary(
            name: "CGDBM",
            providers: [.apt(["libgdbm-dev"])]
        ),
        // libpq (libpq-dev): PostgreSQL for servers that share one database.
        .systemLibrary(
            name: "CPostgreSQL",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // libomemo-c (libomemo-c-dev): the Signal protocol, X3DH and the Double Ratchet, for the
        // end-to-end encryption of messages. Its crypto primitives come from COpenSSL.
        .systemLibrary(
            name: "COmemo",
            pkgConfig: "libomemo-c",
            providers: [.apt(["libomemo-c-dev"])]
        ),
        // End-to-end encryption core: device keys, prekey bundles, sessions, safety numbers.
        // A library for the client side; the server never links it.
        .target(
            name: "EndToEnd",
            dependencies: ["COmemo", "COpenSSL"],
            swiftSettings: swiftSettings
        ),
        // The client's local encrypted state: its per-user state directory (locked to one
        // client), a password-wrapped data key, sealed named blobs and the message history.
        // AES-256-GCM, scrypt and RAND_bytes from OpenSSL; it knows neither NIO nor EndToEnd.
        .target(
            name: "LocalVault",
            dependencies: ["COpenSSL", "OpenSSLSupport"],
            swiftSettings: swiftSettings
        ),
        // The client's end-to-end layer over EndToEnd: keys to publish, trust in partners'
        // keys (first use, changes, safety numbers), texts to Signal bodies and back, all
        // state in a sealed storage the caller gives. Used by chat-client and chat-bench.
        .target(
            name: "SecureMessaging",
            dependencies: ["EndToEnd", "LocalVault", "Shared"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Shared",
            dependencies: [
                "COpenSSL",
                "COpenSSLShims",
                "OpenSSLSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Server",
            dependencies: [
                "Shared",
                "OpenSSLSupport",
                "COpenSSL",
                "CGDBM",
                "CPostgreSQL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The client side of the protocol, shared by chat-client, chat-bench and the tests:
        // verified TLS connect, hello, replies matched by id, acks, duplicates dropped. The
        // server never links it.
        .target(
            name: "ChatSession",
            dependencies: [
                "Shared",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Client",
            dependencies: [
                "ChatSession",
                "EndToEnd",
                "LocalVault",
                "SecureMessaging",
                "Shared",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // chat-bench: drives a running chat-server over real TLS with many connections from one
        // process and reports throughput, latency and the server's own CPU per unit of work.
        .executableTarget(
            name: "Bench",
            dependencies: [
                "ChatSession",
                "EndToEnd",
                "LocalVault",
                "SecureMessaging",
                "Shared",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Fixtures for every test target: certificates from scripts/gen-certs.sh, temporary
        // directories, and the real chat-server / chat-client processes.
        .target(
            name: "TestSupport",
            dependencies: [
                "ChatSession",
                "EndToEnd",
                "LocalVault",
                "SecureMessaging",
                "Shared",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                // ConditionLock, for the slowloris crowd's threads.
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SharedTests",
            dependencies: [
                "Shared",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                // ByteToMessageDecoderVerifier, for the line codec.
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server",
                "Shared",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                // NIOThreadPool and a real event loop for AccountService; a Logger to give it.
                .product(name: "NIOPosix", package: "swift-nio"),
                // ConditionLock, to hold an event loop while other threads offer frames.
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClientTests",
            dependencies: ["Client", "Shared"],
            swiftSettings: swiftSettings
        ),
        // The session library: its state machine, its handler on EmbeddedChannel, and
        // sessions against the real chat-server (depending on it makes `swift test` build it).
        .testTarget(
            name: "ChatSessionTests",
            dependencies: [
                "ChatSession",
                "Server",
                "Shared",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SecureMessagingTests",
            dependencies: ["SecureMessaging", "EndToEnd"],
            swiftSettings: swiftSettings
        ),
        // Imports COmemo to call the crypto provider's function table exactly as libomemo-c does.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["EndToEnd", "COmemo"],
            swiftSettings: swiftSettings
        ),
        // TestSupport for its temporary directories only.
        .testTarget(
            name: "LocalVaultTests",
            dependencies: ["LocalVault", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // Starts the real chat-server, chat-client and chat-bench binaries; depending on the
        // executables makes `swift test` build them first.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Server",
                "Client",
                "Bench",
                "Shared",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
