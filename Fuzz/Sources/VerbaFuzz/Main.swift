// The libFuzzer entry point: VERBA_FUZZ_TARGET picks one of `fuzzTargets` (Targets.swift) for the whole
// run. A crash, a sanitizer report or a failed property (`check`, which traps) is a finding: libFuzzer
// then writes the input to crash-<sha1> and stops.

import Foundation

/// The target this process runs, chosen once from the environment.
var selectedTarget: FuzzTarget? = nil

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let name = ProcessInfo.processInfo.environment["VERBA_FUZZ_TARGET"] ?? ""
    guard let target = fuzzTargets.first(where: { $0.name == name }) else {
        let names = fuzzTargets.map(\.name).joined(separator: " ")
        FileHandle.standardError.write(Data("verba-fuzz: set VERBA_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    target.setUp()
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(bytes)
    return 0
}

/// A property that must hold for every input: a failure is a finding (printed, then a trap).
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        FileHandle.standardError.write(Data("verba-fuzz: property failed at \(file):\(line): \(message())\n".utf8))
        abort()
    }
}

/// SwiftPM links an executable target with its `main` renamed to `<module>_main`, so libFuzzer's own
/// `main` is not used: this one hands the arguments to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("verba_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzerTestOneInput(data, size) }
}
