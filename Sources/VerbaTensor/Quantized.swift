import Foundation
import Synchronization

// Int8 weights for batch-1 decoding. A decode step streams every weight once, so its speed is bounded by
// bytes per weight: int8 storage reads a quarter of float32's bytes and raises that bound about 4x.
// Quantization is symmetric per output row: q = round(w / s) with s = max|w_row| / 127, so w ≈ s·q with an
// error of at most s/2 per weight. The product dequantizes on the fly: y[r] = s[r] · Σ_j float(q[r, j]) · x[j].
// This is an approximation of the float32 model (outputs differ at the ~1e-3 relative level), so it is
// opt-in; the exact float32 path stays the default.

/// A (rows, cols) weight matrix stored as int8 with one float32 scale per row (rows = outputs, cols = inputs).
public final class QuantizedMatrix: @unchecked Sendable {
    /// Output count (rows of the (out, in) matrix).
    public let rows: Int
    /// Input count.
    public let cols: Int
    /// Quantized weights, (rows, cols) row-major, 64-byte aligned.
    public let values: UnsafeMutablePointer<Int8>
    /// Per-row scales, (rows): w[r, j] ≈ scales[r] · values[r, j].
    public let scales: UnsafeMutablePointer<Float>

    private init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "QuantizedMatrix: negative size")
        self.rows = rows
        self.cols = cols
        values = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * cols), alignment: 64)
            .bindMemory(to: Int8.self, capacity: max(1, rows * cols))
        scales = .allocate(capacity: max(1, rows))
    }

    deinit {
        UnsafeMutableRawPointer(values).deallocate()
        scales.deallocate()
    }

    /// Quantizes `w`, stored (rows, cols) = (out, in) row-major as PyTorch `nn.Linear` stores it.
    /// - Complexity: O(rows·cols).
    public convenience init(_ w: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.init(rows: rows, cols: cols)
        ThreadPool.shared.parallelChunks(count: rows, minimumChunk: 64) { range in
            for r in range { self.quantizeRow(r) { w[r * cols + $0] } }
        }
    }

    /// Quantizes `w` stored (inputs, outputs) row-major, as GPT-2's `Conv1D` stores it; the result is the
    /// transposed (outputs, inputs) matrix, so `gemv(_:_:_:)` computes y = xᵀ·W.
    /// - Complexity: O(inputs·outputs).
    public convenience init(transposing w: UnsafePointer<Float>, inputs: Int, outputs: Int) {
        self.init(rows: outputs, cols: inputs)
        ThreadPool.shared.parallelChunks(count: outputs, minimumChunk: 64) { range in
            for r in range { self.quantizeRow(r) { w[$0 * outputs + r] } }
        }
    }

    private func quantizeRow(_ r: Int, _ weight: (Int) -> Float) {
        var largest: Float = 0
        for j in 0..<cols { largest = max(largest, abs(weight(j))) }
        let scale = largest > 0 && largest.isFinite ? largest / 127 : 1
        scales[r] = scale
        let inverse = 1 / scale
        let row = values + r * cols
        for j in 0..<cols {
            let q = (weight(j) * inverse).rounded(.toNearestOrEven)
            row[j] = Int8(max(-127, min(127, q.isNaN ? 0 : q)))
        }
    }

    /// Bytes of weights and scales.
    public var byteCount: Int { rows * cols + rows * 4 }

    /// The float32 matrix the quantized one stands for, (rows, cols) row-major.
    public func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows { for j in 0..<cols { out[r * cols + j] = scales[r] * Float(values[r * cols + j]) } }
        return out
    }
}

/// y = W·x (+ bias) (or y += … when `accumulate`) with int8 weights: x (q.cols), bias and y (q.rows).
/// Threads take contiguous blocks of rows; each row is converted to float sixteen weights at a time
/// (sign-extend, convert, FMA), four rows per pass sharing each x load.
/// - Complexity: 2·rows·cols flops, rows·cols bytes read once.
public func gemv(_ q: QuantizedMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    let rows = q.rows, cols = q.cols
    if rows == 0 { return }
    let pool = ThreadPool.shared
    let parts = rows * cols < 4 * gemvParallelThreshold || pool.isBusy ? 1 : min(pool.threadCount, max(1, rows / 8))
    if parts == 1 {
        quantizedRows(q, x, y, 0..<rows, bias: bias, accumulate: accumulate)
        return
    }
    let blocks = (rows + 7) / 8
    pool.parallelFor(count: parts) { p in
        let r0 = min(rows, p * blocks / parts * 8), r1 = min(rows, (p + 1) * blocks / parts * 8)
        quantizedRows(q, x, y, r0..<r1, bias: bias, accumulate: accumulate)
    }
}

/// Sixteen int8 weights as floats. Written lane by lane (the generic SIMD conversion initializers are not
/// specialized and would cost a call per vector); LLVM turns this into vpmovsxbd + vcvtdq2ps.
@inline(__always) private func widen16(_ p: UnsafePointer<Int8>) -> V16 {
    var v = V16()
    for l in 0..<16 { v[l] = Float(p[l]) }
    return v
}

@inline(__always)
private func quantizedRows(_ q: QuantizedMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           _ range: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let cols = q.cols, body = cols - cols % 16
    let w = UnsafePointer(q.values)
    @inline(__always) func finish(_ r: Int, _ s: Float) {
        var v = s * q.scales[r]
        if let bias { v += bias[r] }
        y[r] = accumulate ? y[r] + v : v
    }
    var r = range.lowerBound
    // Eight rows per pass (eight memory streams in flight, as in the float32 gemv).
    // While a block of eight rows is summed, the next block is touched (2 cache lines per 16 columns;
    // see `touchLines`).
    var touched: UInt32 = 0
    let end = w + range.upperBound * cols
    while r + 8 <= range.upperBound {
        let w0 = w + r * cols
        let ahead = w0 + 8 * cols
        var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16(), a4 = V16(), a5 = V16(), a6 = V16(), a7 = V16()
        var j = 0
        while j < body {
            let t = ahead + 8 * j
            if t + 128 <= end { touched ^= touchLines(t, 2) }
            let xv = load16(x + j)
            var p = w0 + j
            a0.addProduct(widen16(p), xv); p += cols
            a1.addProduct(widen16(p), xv); p += cols
            a2.addProduct(widen16(p), xv); p += cols
            a3.addProduct(widen16(p), xv); p += cols
            a4.addProduct(widen16(p), xv); p += cols
            a5.addProduct(widen16(p), xv); p += cols
            a6.addProduct(widen16(p), xv); p += cols
            a7.addProduct(widen16(p), xv)
            j += 16
        }
        var s = SIMD8<Float>(horizontalSum(a0), horizontalSum(a1), horizontalSum(a2), horizontalSum(a3),
                              horizontalSum(a4), horizontalSum(a5), horizontalSum(a6), horizontalSum(a7))
        while j < cols {
            let xj = x[j]
            for q in 0..<8 { s[q] += Float(w0[q * cols + j]) * xj }
            j += 1
        }
        for q in 0..<8 { finish(r + q, s[q]) }
        r += 8
    }
    touchSink.store(touched, ordering: .relaxed)
    while r + 4 <= range.upperBound {
        let w0 = w + r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols
        var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
        var j = 0
        while j < body {
            let xv = load16(x + j)
            a0.addProduct(widen16(w0 + j), xv)
            a1.addProduct(widen16(w1 + j), xv)
            a2.addProduct(widen16(w2 + j), xv)
            a3.addProduct(widen16(w3 + j), xv)
            j += 16
        }
        var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
        while j < cols {
            let xj = x[j]
            s0 += Float(w0[j]) * xj; s1 += Float(w1[j]) * xj; s2 += Float(w2[j]) * xj; s3 += Float(w3[j]) * xj
            j += 1
        }
        finish(r, s0); finish(r + 1, s1); finish(r + 2, s2); finish(r + 3, s3)
        r += 4
    }
    while r < range.upperBound {
        let wr = w + r * cols
        var a = V16()
        var j = 0
        while j < body { a.addProduct(widen16(wr + j), load16(x + j)); j += 16 }
        var s = horizontalSum(a)
        while j < cols { s += Float(wr[j]) * x[j]; j += 1 }
        finish(r, s)
        r += 1
    }
}

/// Loads one word from each of the `lines` cache lines at `p` and folds them together: a "touch" that starts
/// the memory transfers of weights a block ahead of their use. Swift has no prefetch instruction; ordinary
/// loads whose result feeds a sink do the same job. The int8 kernel does enough work per cache line that
/// without it the core waits on memory (it streams ~3x faster with it); the float32 gemv is load-bound and
/// gets slower with it, so it does not touch.
@inline(__always) func touchLines(_ p: UnsafeRawPointer, _ lines: Int) -> UInt32 {
    var a: UInt32 = 0
    for k in 0..<lines { a ^= p.load(fromByteOffset: 64 * k, as: UInt32.self) }
    return a
}

/// Where touch-ahead loads end up, so the optimizer keeps them (relaxed atomic: threads store to it concurrently).
let touchSink = Atomic<UInt32>(0)

/// Plain version of the int8 `gemv` (Double accumulation), for tests.
public func referenceQuantizedGemv(_ q: QuantizedMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                   bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for r in 0..<q.rows {
        var s: Double = 0
        for j in 0..<q.cols { s += Double(q.values[r * q.cols + j]) * Double(x[j]) }
        var v = Float(s) * q.scales[r]
        if let bias { v += bias[r] }
        y[r] = accumulate ? y[r] + v : v
    }
}
