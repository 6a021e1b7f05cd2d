import CVerbaKernels

// Conversions between float32 and the two 16-bit float formats found in checkpoints:
// IEEE binary16 ("F16", 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 ("BF16", the top half of a float32).
// Widening to float32 is exact; narrowing rounds to nearest, ties to even, as PyTorch and numpy do.
// The bulk converters read sources through raw pointers, so 16-bit values at odd byte offsets
// (as a memory-mapped safetensors file may hold them) are fine.

// MARK: - Scalar conversions

/// The float32 value of an IEEE binary16 bit pattern (exact, including subnormals and infinities; NaN payloads
/// are kept, signaling NaNs come back quiet).
@inline(__always)
package func halfToFloat(_ bits: UInt16) -> Float {
    #if arch(x86_64) || arch(arm64)
    return Float(Float16(bitPattern: bits))
    #else
    return referenceHalfToFloat(bits)
    #endif
}

/// The IEEE binary16 bit pattern nearest to `x` (round to nearest, ties to even; overflow gives infinity,
/// NaN stays NaN).
@inline(__always)
package func floatToHalf(_ x: Float) -> UInt16 {
    #if arch(x86_64) || arch(arm64)
    return Float16(x).bitPattern
    #else
    return referenceFloatToHalf(x)
    #endif
}

/// The float32 value of a bfloat16 bit pattern (exact: the pattern is the high half of the float32).
@inline(__always)
package func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// The bfloat16 bit pattern nearest to `x` (round to nearest, ties to even; NaN stays a quiet NaN).
@inline(__always)
package func floatToBFloat16(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if bits & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
    return UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
}

// MARK: - Reference (pure integer) conversions, for tests and for targets without a Float16 type

/// Bit-level version of `halfToFloat`.
package func referenceHalfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h >> 15) << 31
    let exponent = UInt32(h >> 10) & 0x1f
    let mantissa = UInt32(h) & 0x3ff
    if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24, exactly representable in float32.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return Float(bitPattern: sign | magnitude.bitPattern)
    }
    if exponent == 31 {   // infinity, or NaN with its payload kept and quieted (as IEEE conversions and F16C do)
        return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13) | (mantissa == 0 ? 0 : 0x0040_0000))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Bit-level version of `floatToHalf` (round to nearest, ties to even).
package func referenceFloatToHalf(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7fff_ffff
    if magnitude > 0x7f80_0000 {                       // NaN: keep the top payload bits, force quiet
        return sign | 0x7e00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x3ff)
    }
    if magnitude >= 0x477f_f000 { return sign | 0x7c00 }   // ≥ 65520 rounds to infinity
    if magnitude < 0x3880_0000 {                        // below 2^-14: subnormal half (or zero)
        let scaled = (Float(bitPattern: magnitude) * 16_777_216).rounded(.toNearestOrEven)  // exact scaling by 2^24
        return sign | UInt16(scaled)
    }
    let exponent = ((magnitude >> 23) - 112) << 10
    let mantissa = magnitude & 0x7f_ffff
    var result = exponent | (mantissa >> 13)
    let rest = mantissa & 0x1fff
    if rest > 0x1000 || (rest == 0x1000 && result & 1 == 1) { result += 1 }
    return sign | UInt16(truncatingIfNeeded: result)
}

// MARK: - Bulk conversions (the CPU level's kernels: F16C's vcvtph2ps / vcvtps2ph on AVX2 and AVX-512,
// vectorized bit formulas on baseline)

/// Widens `count` binary16 values read from `source` (any alignment) into `destination`.
/// - Complexity: O(count), vectorized.
package func convertHalfToFloat(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_half_to_float(source, destination, count)
}

/// Narrows `count` floats into binary16 bit patterns written to `destination` (any alignment), rounding to nearest even.
package func convertFloatToHalf(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
    precondition(count >= 0)
    verba_float_to_half(source, destination, count)
}

/// Widens `count` bfloat16 values read from `source` (any alignment) into `destination`.
package func convertBFloat16ToFloat(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0)
    verba_bf16_to_float(source, destination, count)
}

/// Narrows `count` floats into bfloat16 bit patterns written to `destination` (any alignment), rounding to nearest even.
package func convertFloatToBFloat16(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, count: Int) {
    precondition(count >= 0)
    verba_float_to_bf16(source, destination, count)
}
