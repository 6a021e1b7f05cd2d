import CVerbaKernels

// Conversions between float32 rows and ggml's tensor types. The quantized formats are CVerbaKernels'
// quants.c: dequantization does gguf-py's float operations one for one (so values are identical to
// `gguf.quants.dequantize`), quantization follows ggml's reference quantizers (quantize_row_*_ref,
// K-quant scale searches included), so a file written here matches one written by llama-quantize.

/// `count` floats decoded from `src`, a row of `type` (`count` a multiple of `type.blockSize`; `src` holds
/// `type.rowBytes(columns: count)` bytes, at any alignment).
package func dequantizeRow(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    precondition(type.isSupported, "dequantizeRow: \(type) is not supported")
    precondition(count >= 0 && count % type.blockSize == 0,
                 "dequantizeRow: \(count) values is not a multiple of \(type)'s block size \(type.blockSize)")
    switch type {
    case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count)
    case .f16: convertHalfToFloat(src, dst, count: count)
    case .bf16: convertBFloat16ToFloat(src, dst, count: count)
    default:
        let done = verba_dequantize_row(type.rawValue, src, dst, count)
        precondition(done == 1, "dequantizeRow: no kernel for \(type)")
    }
}

/// `count` floats encoded into `dst` as a row of `type` (`type.rowBytes(columns: count)` bytes), as ggml's
/// reference quantizer writes them; float16 and bfloat16 round to nearest even.
package func quantizeRow(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
    precondition(type.isSupported, "quantizeRow: \(type) is not supported")
    precondition(count >= 0 && count % type.blockSize == 0,
                 "quantizeRow: \(count) values is not a multiple of \(type)'s block size \(type.blockSize)")
    switch type {
    case .f32: dst.copyMemory(from: src, byteCount: 4 * count)
    case .f16: convertFloatToHalf(src, dst, count: count)
    case .bf16: convertFloatToBFloat16(src, dst, count: count)
    default:
        let done = verba_quantize_row(type.rawValue, src, dst, count)
        precondition(done == 1, "quantizeRow: no kernel for \(type)")
    }
}
