import CVerbaKernels

// Products with ggml-quantized weight matrices, read in place (a memory-mapped GGUF): no float copy of the
// weights is ever made. The activations are quantized first, per 32 values, to int8 with a float scale
// (with int16 sums per 16 values for the blocks' offsets and minimums); the CPU level's kernel then takes
// integer dot products of each weight block's levels with them (vpmaddubsw / VNNI's vpdpbusd) and scales
// each by the two blocks' scales. A batch-1 product reads each weight byte once, so it is bound by memory
// bandwidth; threads take contiguous blocks of rows, each streaming its own part of the matrix.

/// Bytes of the quantized activations of `count` values (`count` a multiple of 32).
package func quantizedActivationBytes(_ count: Int) -> Int { verba_quant_act_bytes(count) }

/// Quantizes `count` floats (a multiple of 32) into `dst` (`quantizedActivationBytes(count)` bytes): per
/// 32 values d = max|x|/127, q = round(x/d) to nearest even and d · Σq; per 16 values Σq.
package func quantizeActivations(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) {
    precondition(count >= 0 && count % 32 == 0, "quantizeActivations: \(count) values is not a multiple of 32")
    verba_quantize_act(x, dst, count)
}

/// True for the types the quantized products read directly.
package func hasQuantizedKernel(_ type: GGMLType) -> Bool {
    switch type {
    case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: return true
    default: return false
    }
}

/// y = W · x (+ bias) (or y += … when `accumulate`) for W (rows, cols) stored as rows of `type` blocks at
/// `w` (`type.rowBytes(columns: cols)` bytes per row).  x: (cols); bias: (rows); y: (rows).
/// - Complexity: rows · cols multiply-adds in 8-bit integers, rows · rowBytes bytes read once.
package func quantizedGemv(_ type: GGMLType, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    precondition(hasQuantizedKernel(type), "quantizedGemv: no kernel for \(type)")
    precondition(rows >= 0 && cols >= 0 && cols % type.blockSize == 0, "quantizedGemv: bad size \(rows)×\(cols) for \(type)")
    if rows == 0 { return }
    let rowBytes = type.rowBytes(columns: cols)
    withUnsafeTemporaryAllocation(byteCount: quantizedActivationBytes(cols), alignment: 64) { act in
        quantizeActivations(x, act.baseAddress!, count: cols)
        let a = UnsafeRawPointer(act.baseAddress!)
        // With `accumulate` the products go to a scratch row first, then are added.
        let out = accumulate ? UnsafeMutablePointer<Float>.allocate(capacity: rows) : y
        defer { if accumulate { out.deallocate() } }
        let pool = ThreadPool.shared
        let parts = rows * cols < gemvParallelThreshold || pool.isBusy ? 1 : min(pool.threadCount, max(1, rows / 8))
        if parts == 1 {
            verba_quant_matmul(type.rawValue, w, rowBytes, 0, rows, cols, a, 1, out, rows)
        } else {
            let blocks = (rows + 7) / 8
            pool.parallelFor(count: parts) { p in
                let r0 = min(rows, p * blocks / parts * 8), r1 = min(rows, (p + 1) * blocks / parts * 8)
                verba_quant_matmul(type.rawValue, w, rowBytes, r0, r1, cols, a, 1, out, rows)
            }
        }
        if let bias { verba_add(bias, out, rows) }
        if accumulate { verba_add(out, y, rows) }
    }
}

/// C (m, rows) = A (m, cols) · Wᵀ (+ beta · C) for W (rows, cols) stored as rows of `type` blocks at `w`:
/// A's rows are quantized once, then threads take blocks of W's rows, each block against every row of A.
/// - Complexity: m · rows · cols multiply-adds in 8-bit integers; W read once, A's quantization m · rows/16 times.
package func quantizedMatmul(_ a: UnsafePointer<Float>, _ type: GGMLType, _ w: UnsafeRawPointer, _ c: UnsafeMutablePointer<Float>,
                             m: Int, rows: Int, cols: Int, beta: Float = 0) {
    precondition(hasQuantizedKernel(type), "quantizedMatmul: no kernel for \(type)")
    precondition(m >= 0 && rows >= 0 && cols >= 0 && cols % type.blockSize == 0,
                 "quantizedMatmul: bad size \(m)×\(cols) · (\(rows)×\(cols))ᵀ for \(type)")
    if m == 0 || rows == 0 { return }
    let rowBytes = type.rowBytes(columns: cols), actBytes = quantizedActivationBytes(cols)
    let act = UnsafeMutableRawPointer.allocate(byteCount: m * actBytes, alignment: 64)
    defer { act.deallocate() }
    let pool = ThreadPool.shared
    pool.parallelChunks(count: m, minimumChunk: 8) { range in
        for i in range { quantizeActivations(a + i * cols, act + i * actBytes, count: cols) }
    }
    let out = beta == 0 ? c : UnsafeMutablePointer<Float>.allocate(capacity: m * rows)
    defer { if beta != 0 { out.deallocate() } }
    let tile = 16
    let tiles = (rows + tile - 1) / tile
    let parts = m * rows * cols < gemvParallelThreshold || pool.isBusy ? 1 : min(tiles, pool.threadCount * 4)
    let work = { (p: Int) in
        let r0 = min(rows, p * tiles / parts * tile), r1 = min(rows, (p + 1) * tiles / parts * tile)
        verba_quant_matmul(type.rawValue, w, rowBytes, r0, r1, cols, act, m, out, rows)
    }
    if parts == 1 { work(0) } else { pool.parallelFor(count: parts, body: work) }
    if beta != 0 {
        for i in 0..<(m * rows) { c[i] = out[i] + beta * c[i] }
    }
}

// MARK: - Plain versions, for tests

/// Plain version of `quantizeActivations`: the same float operations, one value at a time.
package func referenceQuantizeActivations(_ x: UnsafePointer<Float>, count: Int)
    -> (q: [Int8], d: [Float], dsums: [Float], sums: [Int16]) {
    var q = [Int8](repeating: 0, count: count), d = [Float](repeating: 0, count: count / 32)
    var dsums = d, sums = [Int16](repeating: 0, count: count / 16)
    for b in 0..<(count / 32) {
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(x[32 * b + i])) }
        let scale = amax / 127, inverse: Float = scale != 0 ? 1 / scale : 0
        d[b] = scale
        for i in 0..<32 {
            let product = x[32 * b + i] * inverse
            let v = Int8(product.rounded(.toNearestOrEven))
            q[32 * b + i] = v
            sums[(32 * b + i) / 16] += Int16(v)
        }
        dsums[b] = scale * Float(Int(sums[2 * b]) + Int(sums[2 * b + 1]))
    }
    return (q, d, dsums, sums)
}

/// Plain version of `quantizedMatmul` / `quantizedGemv` without bias: out (m, rows) = Σ over each row's
/// values of the dequantized weight times the dequantized activation (d · q), in Double.
package func referenceQuantizedLinear(_ a: UnsafePointer<Float>, _ type: GGMLType, _ w: UnsafeRawPointer,
                                      _ out: UnsafeMutablePointer<Float>, m: Int, rows: Int, cols: Int) {
    let rowBytes = type.rowBytes(columns: cols)
    var weights = [Float](repeating: 0, count: cols)
    let activations = (0..<m).map { referenceQuantizeActivations(a + $0 * cols, count: cols) }
    for r in 0..<rows {
        weights.withUnsafeMutableBufferPointer { dequantizeRow(type, w + r * rowBytes, $0.baseAddress!, count: cols) }
        for i in 0..<m {
            let act = activations[i]
            var s: Double = 0
            for c in 0..<cols { s += Double(weights[c]) * Double(act.d[c / 32]) * Double(act.q[c]) }
            out[i * rows + r] = Float(s)
        }
    }
}
