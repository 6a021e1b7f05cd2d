// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for Verba's readers and tokenizers, kept out of the main manifest so that it takes
// no unsafe flags. Build and run through scripts/fuzz.sh, which passes the sanitizer flags:
//   swift build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address \
//       -Xswiftc -parse-as-library -Xswiftc -enable-testing
// One binary holds every target; VERBA_FUZZ_TARGET names the one to run (see Targets.swift).
let package = Package(
    name: "VerbaFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "Verba", path: "..")],
    targets: [
        .executableTarget(name: "verba-fuzz", dependencies: [
            .product(name: "VerbaTokenizers", package: "Verba"),
            .product(name: "VerbaTensor", package: "Verba"),
            .product(name: "VerbaModels", package: "Verba"),
            .product(name: "VerbaServer", package: "Verba"),
        ], path: "Sources/VerbaFuzz"),
    ],
    swiftLanguageModes: [.v5]  // single-threaded harness: no Sendable annotations
)
