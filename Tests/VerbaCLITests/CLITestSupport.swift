import Foundation
import XCTest

/// Runs the built `verba` binary with `arguments` and `input` on stdin; returns status, stdout, stderr.
/// Runs `verba` (or `binary`, a copy of it) in `directory` (default: the package root).
func runVerba(_ arguments: [String], input: Data = Data(), binary: URL? = nil, directory: URL? = nil,
              file: StaticString = #filePath) throws -> (status: Int32, stdout: Data, stderr: Data) {
    let process = Process()
    process.executableURL = binary ?? verbaBinary()
    process.arguments = arguments
    process.currentDirectoryURL = directory ?? packageRoot()
    let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
    process.standardInput = inPipe
    process.standardOutput = outPipe
    process.standardError = errPipe
    try process.run()
    let writer = Thread {
        inPipe.fileHandleForWriting.write(input)
        try? inPipe.fileHandleForWriting.close()
    }
    writer.start()
    final class Box: @unchecked Sendable { var data = Data() }
    let err = Box()
    let done = DispatchSemaphore(value: 0)
    let errThread = Thread { err.data = errPipe.fileHandleForReading.readDataToEndOfFile(); done.signal() }
    errThread.start()
    let out = outPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    done.wait()
    return (process.terminationStatus, out, err.data)
}

/// The `verba` executable next to the test bundle (same build configuration).
func verbaBinary() -> URL {
    var dir = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("verba")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    for bundle in Bundle.allBundles {
        let candidate = bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("verba")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return packageRoot().appendingPathComponent(".build/release/verba")
}

/// The package's root folder (where Package.swift is).
func packageRoot() -> URL {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

/// `../shared/fixtures` beside the checkout.
func sharedFixtures() -> URL {
    packageRoot().deletingLastPathComponent().appendingPathComponent("shared/fixtures")
}
