// Loading OpenBLAS, and which of its kernels the models run on. OpenBLAS picks its kernels for the CPU
// when it is loaded; on AMD Zen 4 (family 25 with AVX-512, whose 512-bit units are double-pumped
// 256-bit ones) it picks its Cooper Lake AVX-512 kernels, yet its Haswell AVX2 kernels run Verba's
// products faster there (GPT-2 prefill, training and MiniLM embedding alike, measured with
// `OPENBLAS_CORETYPE`). The choice can only be made through the environment before the library loads:
// Verba opens OpenBLAS at its first use (Sources/CBLAS), and every model's initializer calls
// `BLAS.load()` first, so on such a CPU `OPENBLAS_CORETYPE=HASWELL` is set just before. A value the
// user set is kept; other CPUs (Zen 3, Zen 5, Intel) keep OpenBLAS's own choice. Programs that only
// tokenize never load OpenBLAS at all.

import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Why OpenBLAS cannot be used.
package enum BLASError: Error, CustomStringConvertible {
    /// The library could not be loaded (it is opened at run time: `libopenblas.so.0`, from libopenblas0
    /// or libopenblas-dev); the loader's reason.
    case unavailable(String)

    public var description: String {
        switch self {
        case let .unavailable(reason): return reason
        }
    }
}

/// The OpenBLAS library behind Verba's matrix products.
///
/// ```swift
/// import VerbaTensor
/// do {
///     try BLAS.load()
/// } catch {
///     print("matrix products unavailable: \(error)")   // e.g. libopenblas.so.0 missing
/// }
/// ```
public enum BLAS {
    /// The outcome of the one load (Swift runs a static initializer once, thread-safely).
    private static let loaded: BLASError? = {
        #if os(Linux)
        if getenv("OPENBLAS_CORETYPE") == nil && isZen4() { setenv("OPENBLAS_CORETYPE", "HASWELL", 1) }
        #endif
        return verba_blas_load() == 0 ? nil : BLASError.unavailable(String(cString: verba_blas_error()))
    }()

    /// Loads OpenBLAS with the kernels for this CPU, once; later calls return at once. Models call it
    /// when they are made, so a program need not; call it yourself to find out early whether the
    /// matrix products can run, or before calling OpenBLAS-backed kernels directly.
    ///
    /// ```swift
    /// do { try BLAS.load() } catch { print("no OpenBLAS: \(error)") }
    /// ```
    /// - Throws: `BLASError.unavailable` when the library cannot be opened.
    public static func load() throws {
        if let loaded { throw loaded }
    }

    /// AMD family 25 (Zen 3 and Zen 4) with AVX-512, i.e. Zen 4, from /proc/cpuinfo.
    static func isZen4() -> Bool {
        guard let f = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(f) }
        var amd = false, family25 = false, avx512 = false
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, f) > 0, let l = line {
            let s = String(cString: l)
            if s.hasPrefix("vendor_id") { amd = s.contains("AuthenticAMD") }
            if s.hasPrefix("cpu family") {
                family25 = s.split(separator: ":").last.map { $0.filter { !$0.isWhitespace } } == "25"
            }
            if s.hasPrefix("flags") {
                avx512 = s.contains(" avx512f")
                break  // the first processor's entry is enough
            }
        }
        return amd && family25 && avx512
    }
}
