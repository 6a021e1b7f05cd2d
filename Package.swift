// swift-tools-version:6.0
import PackageDescription

// Every machine builds from source, so kernels are compiled for the CPU they run on
// (AVX2 + FMA on Zen 3, AVX-512 on Zen 5): without this, SIMD `addProduct` lowers to scalar fmaf calls.
let native: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=native", "-Xcc", "-O3", "-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "Verba",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "VerbaTokenizers", targets: ["VerbaTokenizers"]),
        .library(name: "VerbaTensor", targets: ["VerbaTensor"]),
        .library(name: "VerbaModels", targets: ["VerbaModels"]),
        .executable(name: "verba", targets: ["verba"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CUTF8Proc", path: "Sources/CUTF8Proc",
                       providers: [.apt(["libutf8proc-dev"])]),
        // OpenBLAS (libopenblas-dev), opened at first use: see Sources/CBLAS/include/CBLAS.h.
        .target(name: "CBLAS", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CVerbaSupport", cSettings: [.unsafeFlags(["-O3"])]),
        // Shared internals of the libraries (JSON, atomic writes, seeded randomness): `package` access,
        // no product.
        .target(name: "VerbaSupport", dependencies: ["CVerbaSupport"]),
        .target(name: "VerbaTokenizers", dependencies: ["CUTF8Proc", "CVerbaSupport", "VerbaSupport"], swiftSettings: native),
        .target(name: "VerbaTensor", dependencies: ["CBLAS", "CVerbaSupport", "VerbaSupport"], swiftSettings: native),
        .target(name: "VerbaModels", dependencies: ["VerbaTensor", "VerbaTokenizers", "CVerbaSupport", "VerbaSupport"], swiftSettings: native),
        .executableTarget(name: "verba", dependencies: [
            "VerbaTokenizers", "VerbaTensor", "VerbaModels", "CBLAS",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: native),
        .testTarget(name: "VerbaTokenizersTests", dependencies: ["VerbaTokenizers", "VerbaSupport"], swiftSettings: native),
        .testTarget(name: "VerbaTensorTests", dependencies: ["VerbaTensor", "VerbaSupport"], swiftSettings: native),
        .testTarget(name: "VerbaModelsTests", dependencies: ["VerbaModels", "VerbaTensor", "VerbaTokenizers", "VerbaSupport"], swiftSettings: native),
        .testTarget(name: "VerbaCLITests", dependencies: ["verba"], swiftSettings: native),
    ],
    swiftLanguageModes: [.v5]
)
