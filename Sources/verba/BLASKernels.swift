// Which OpenBLAS kernels the model commands run on. OpenBLAS picks its kernels for the CPU when the
// library is loaded, before `main`; on AMD Zen 4 (family 25 with AVX-512, whose 512-bit units are
// double-pumped 256-bit ones) it picks its Cooper Lake AVX-512 kernels, yet its Haswell AVX2 kernels
// run our products faster there: GPT-2 124M prefill of 128 tokens +7% (median of 10 runs, 906 -> 968
// tok/s), training the default GPT +6%, MiniLM embedding +4% (measured with `OPENBLAS_CORETYPE`).
// The choice can only be made through the environment before the library loads, so a model command
// on such a CPU re-executes itself once with `OPENBLAS_CORETYPE=HASWELL`. A value the user set is
// kept; other CPUs (Zen 3, Zen 5, Intel) keep OpenBLAS's own choice.
//
// The other commands never call OpenBLAS, yet loading it starts its worker threads, which spin for about
// 0.1 s waiting for work: on two cores that was a tenth of a core taken from `verba tokenize --threads 2`.
// Those commands stop the threads first thing (OpenBLAS starts them again if it is ever called).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum BLASKernels {
    /// Subcommands whose time is spent in OpenBLAS (the tokenizer ones never call it).
    static let modelCommands: Set<String> = ["generate", "perplexity", "embed", "classify", "train"]

    /// Re-executes this process with `OPENBLAS_CORETYPE=HASWELL` when that is faster here (see above);
    /// returns when it is not needed or not possible.
    static func selectForThisCPU() {
        #if os(Linux)
        let argc = Int(CommandLine.argc)
        guard argc >= 2, let first = CommandLine.unsafeArgv[1], modelCommands.contains(String(cString: first)),
              getenv("OPENBLAS_CORETYPE") == nil, isZen4() else { return }
        setenv("OPENBLAS_CORETYPE", "HASWELL", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed; go on with the kernels already loaded.
        #endif
    }

    /// Stops OpenBLAS's idle worker threads when this command does not use OpenBLAS (see above).
    static func stopIdleThreadsIfUnused() {
        #if os(Linux)
        let argc = Int(CommandLine.argc)
        if argc >= 2, let first = CommandLine.unsafeArgv[1], modelCommands.contains(String(cString: first)) { return }
        // Looked up at run time: not every OpenBLAS build (the OpenMP one) exports it.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") else { return }
        typealias Shutdown = @convention(c) () -> Int32
        _ = unsafeBitCast(symbol, to: Shutdown.self)()
        #endif
    }

    /// AMD family 25 (Zen 3 and Zen 4) with AVX-512, i.e. Zen 4, from /proc/cpuinfo.
    private static func isZen4() -> Bool {
        guard let f = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(f) }
        var amd = false, family25 = false, avx512 = false
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0, let l = line {
            let s = String(cString: l)
            if s.hasPrefix("vendor_id") { amd = s.contains("AuthenticAMD") }
            if s.hasPrefix("cpu family") { family25 = s.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) == "25" }
            if s.hasPrefix("flags") {
                avx512 = s.contains(" avx512f")
                break  // the first processor's entry is enough
            }
        }
        return amd && family25 && avx512
    }
}
