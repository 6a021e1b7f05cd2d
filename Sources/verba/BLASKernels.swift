// Loading OpenBLAS for the model commands, and which of its kernels they run on. OpenBLAS picks its
// kernels for the CPU when it is loaded; on AMD Zen 4 (family 25 with AVX-512, whose 512-bit units are
// double-pumped 256-bit ones) it picks its Cooper Lake AVX-512 kernels, yet its Haswell AVX2 kernels
// run our products faster there: GPT-2 124M prefill of 128 tokens +7% (median of 10 runs, 906 -> 968
// tok/s), training the default GPT +6%, MiniLM embedding +4% (measured with `OPENBLAS_CORETYPE`).
// The choice is made through the environment before the library loads: Verba opens OpenBLAS at its
// first use (Sources/CBLAS), so a model command on such a CPU sets `OPENBLAS_CORETYPE=HASWELL` first
// thing, while the process has one thread. A value the user set is kept; other CPUs (Zen 3, Zen 5,
// Intel) keep OpenBLAS's own choice. The other commands never load OpenBLAS at all.

import CBLAS
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum BLASKernels {
    /// Subcommands whose time is spent in OpenBLAS (the tokenizer ones never call it).
    static let modelCommands: Set<String> = ["generate", "perplexity", "embed", "classify", "train"]

    /// For a model command: selects OpenBLAS's kernels for this CPU (see above) and loads it; returns
    /// why it cannot be loaded, nil when it is loaded or the command does not need it.
    static func prepare() -> String? {
        guard CommandLine.argc >= 2, let first = CommandLine.unsafeArgv[1], modelCommands.contains(String(cString: first)) else {
            return nil
        }
        #if os(Linux)
        if getenv("OPENBLAS_CORETYPE") == nil && isZen4() { setenv("OPENBLAS_CORETYPE", "HASWELL", 1) }
        #endif
        return verba_blas_load() == 0 ? nil : String(cString: verba_blas_error())
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
