import CVerbaKernels

/// The instruction-set level the float kernels run at, chosen once per process.
///
/// Every kernel is compiled for each level into the same binary; at first use the best level this CPU and
/// its operating system support is taken, unless the `VERBA_CPU` environment variable names another
/// (`baseline`, `avx2`, `avx512` or `avx512vnni`). A level the machine cannot run falls back to the best it has, with a
/// warning on standard error. On non-x86 machines the only level is `baseline` (the compiler's default
/// vector unit, NEON on arm64).
///
/// ```swift
/// import VerbaTensor
/// print("kernels: \(CPULevel.current)")   // e.g. "kernels: avx2"
/// ```
public enum CPULevel: String, Sendable, CaseIterable, CustomStringConvertible {
    /// x86-64 as of 2003 (SSE2), or the default target of other architectures.
    case baseline
    /// AVX2 with FMA and F16C (Haswell, Zen and later).
    case avx2
    /// AVX-512 F, BW, DQ and VL (Skylake-X, Ice Lake, Zen 4 and later).
    case avx512
    /// AVX-512 with VNNI's 8-bit dot products (Ice Lake, Zen 4 and later), for the quantized kernels.
    case avx512vnni

    /// The level the kernels use in this process.
    public static var current: CPULevel { CPULevel(code: verba_kernels().pointee.level) }

    /// The levels this machine can run, lowest first.
    public static var supported: [CPULevel] {
        allCases.filter { verba_kernels_for_level($0.code) != nil }
    }

    public var description: String { rawValue }

    package var code: Int32 {
        switch self {
        case .baseline: return Int32(VERBA_LEVEL_BASELINE)
        case .avx2: return Int32(VERBA_LEVEL_AVX2)
        case .avx512: return Int32(VERBA_LEVEL_AVX512)
        case .avx512vnni: return Int32(VERBA_LEVEL_AVX512VNNI)
        }
    }

    package init(code: Int32) {
        switch code {
        case Int32(VERBA_LEVEL_AVX512): self = .avx512
        case Int32(VERBA_LEVEL_AVX512VNNI): self = .avx512vnni
        case Int32(VERBA_LEVEL_AVX2): self = .avx2
        default: self = .baseline
        }
    }

    /// Runs `body` with every kernel at `level` (which must be in `supported`), then restores the level in
    /// use before. For tests comparing the levels; not for use while other threads run kernels.
    package static func withLevel<T>(_ level: CPULevel, _ body: () throws -> T) rethrows -> T {
        let previous = current
        precondition(verba_kernels_select(level.code) != 0, "CPU level \(level) not supported here")
        defer { _ = verba_kernels_select(previous.code) }
        return try body()
    }
}

