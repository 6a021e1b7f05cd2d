// swift-tools-version:6.0
// A package that uses Verba as a library, as an app would: by version, through the public API alone.
// scripts/test-consumer.sh builds and runs it against a tagged clone of the current commit.
import Foundation
import PackageDescription

// The Verba repository to depend on: VERBA_GIT_URL (scripts/test-consumer.sh gives a tagged clone),
// else the checkout this example sits in (which needs a version tag at HEAD or before it).
let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let verbaURL = ProcessInfo.processInfo.environment["VERBA_GIT_URL"] ?? checkout.absoluteString
let verbaVersion = Version(stringLiteral: ProcessInfo.processInfo.environment["VERBA_VERSION"] ?? "0.3.0")
// SwiftPM names a package by the last component of its URL.
let verbaIdentity = URL(fileURLWithPath: verbaURL).deletingPathExtension().lastPathComponent.lowercased()

let package = Package(
    name: "VerbaDemo",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: verbaURL, from: verbaVersion),
    ],
    targets: [
        .executableTarget(name: "VerbaDemo", dependencies: [
            .product(name: "VerbaTokenizers", package: verbaIdentity),
            .product(name: "VerbaModels", package: verbaIdentity),
        ]),
    ]
)
