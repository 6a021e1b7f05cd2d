// swift-tools-version:6.0
import PackageDescription

// No target takes unsafe flags, so the package can be used as a versioned dependency. The float kernels
// live in CVerbaKernels, compiled for several CPU levels into one binary and chosen at run time.
let package = Package(
    name: "Verba",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "VerbaTokenizers", targets: ["VerbaTokenizers"]),
        .library(name: "VerbaTensor", targets: ["VerbaTensor"]),
        .library(name: "VerbaModels", targets: ["VerbaModels"]),
        .library(name: "VerbaServer", targets: ["VerbaServer"]),
        .executable(name: "verba", targets: ["verba"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CUTF8Proc", path: "Sources/CUTF8Proc",
                       providers: [.apt(["libutf8proc-dev"])]),
        // OpenBLAS (libopenblas-dev), opened at first use: see Sources/CBLAS/include/CBLAS.h.
        .target(name: "CBLAS"),
        .target(name: "CVerbaSupport"),
        .target(name: "CVerbaKernels"),
        // Shared internals of the libraries (JSON, atomic writes, seeded randomness): `package` access,
        // no product.
        .target(name: "VerbaSupport", dependencies: ["CVerbaSupport"]),
        .target(name: "VerbaTokenizers", dependencies: ["CUTF8Proc", "CVerbaSupport", "VerbaSupport"]),
        .target(name: "VerbaTensor", dependencies: ["CBLAS", "CVerbaKernels", "CVerbaSupport", "VerbaSupport"]),
        .target(name: "VerbaModels", dependencies: ["VerbaTensor", "VerbaTokenizers", "CVerbaSupport", "VerbaSupport"]),
        // The OpenAI-compatible HTTP server behind `verba serve`: a scheduler that batches decoding.
        .target(name: "VerbaServer", dependencies: [
            "VerbaModels", "VerbaTensor", "VerbaTokenizers", "VerbaSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "verba", dependencies: [
            "VerbaTokenizers", "VerbaTensor", "VerbaModels", "VerbaServer", "CBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "VerbaTokenizersTests", dependencies: ["VerbaTokenizers", "VerbaSupport"]),
        .testTarget(name: "VerbaTensorTests", dependencies: ["VerbaTensor", "VerbaSupport"]),
        .testTarget(name: "VerbaModelsTests", dependencies: ["VerbaModels", "VerbaTensor", "VerbaTokenizers", "VerbaSupport"]),
        .testTarget(name: "VerbaCLITests", dependencies: ["verba"]),
        .testTarget(name: "VerbaServerTests", dependencies: ["VerbaServer", "VerbaModels", "VerbaSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
