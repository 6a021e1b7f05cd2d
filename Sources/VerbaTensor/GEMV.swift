import CBLAS
import Foundation

// Matrix–vector products for batch-1 decoding. Each weight is read once and used for one multiply-add, so
// these kernels are bound by memory bandwidth: they stream every matrix once, in address order, each thread
// over its own contiguous slice of it, with SIMD16 FMAs (zmm on AVX-512, ymm pairs on AVX2).

/// Below this many weights a product runs on the calling thread (waking the pool costs more than it saves).
let gemvParallelThreshold = 32_768

/// y = W · x (+ bias) (or y += … when `accumulate`), W stored (rows, cols) row-major — PyTorch `nn.Linear`'s
/// (out_features, in_features) layout.  W: (rows, cols); x: (cols); bias: (rows); y: (rows).
/// Threads take contiguous blocks of rows; each row is a dot product, four rows at a time sharing each x load.
/// - Complexity: 2·rows·cols flops, rows·cols·4 bytes read once.
public func gemv(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                 rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    precondition(rows >= 0 && cols >= 0, "gemv: negative size")
    if rows == 0 { return }
    let pool = ThreadPool.shared
    let parts = rows * cols < gemvParallelThreshold || pool.isBusy ? 1 : min(pool.threadCount, max(1, rows / 8))
    if parts == 1 {
        gemvRows(w, x, y, 0..<rows, cols: cols, bias: bias, accumulate: accumulate)
        return
    }
    let blocks = (rows + 7) / 8
    pool.parallelFor(count: parts) { p in
        let r0 = min(rows, p * blocks / parts * 8), r1 = min(rows, (p + 1) * blocks / parts * 8)
        gemvRows(w, x, y, r0..<r1, cols: cols, bias: bias, accumulate: accumulate)
    }
}

/// Rows `range` of `gemv`, on the calling thread.
@inline(__always)
private func gemvRows(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ range: Range<Int>, cols: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let body = cols - cols % 16
    @inline(__always) func finish(_ r: Int, _ s: Float) {
        var v = s
        if let bias { v += bias[r] }
        y[r] = accumulate ? y[r] + v : v
    }
    var r = range.lowerBound
    // Eight rows per pass: eight concurrent streams keep enough cache misses in flight to approach the
    // bandwidth of a core (four reach ~85% of it).
    while r + 8 <= range.upperBound {
        let w0 = w + r * cols
        var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16(), a4 = V16(), a5 = V16(), a6 = V16(), a7 = V16()
        var j = 0
        while j < body {
            let xv = load16(x + j)
            var p = w0 + j
            a0.addProduct(load16(p), xv); p += cols
            a1.addProduct(load16(p), xv); p += cols
            a2.addProduct(load16(p), xv); p += cols
            a3.addProduct(load16(p), xv); p += cols
            a4.addProduct(load16(p), xv); p += cols
            a5.addProduct(load16(p), xv); p += cols
            a6.addProduct(load16(p), xv); p += cols
            a7.addProduct(load16(p), xv)
            j += 16
        }
        var s = SIMD8<Float>(horizontalSum(a0), horizontalSum(a1), horizontalSum(a2), horizontalSum(a3),
                              horizontalSum(a4), horizontalSum(a5), horizontalSum(a6), horizontalSum(a7))
        while j < cols {
            let xj = x[j]
            for q in 0..<8 { s[q] += w0[q * cols + j] * xj }
            j += 1
        }
        for q in 0..<8 { finish(r + q, s[q]) }
        r += 8
    }
    while r + 4 <= range.upperBound {
        let w0 = w + r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols
        var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
        var j = 0
        while j < body {
            let xv = load16(x + j)
            a0.addProduct(load16(w0 + j), xv)
            a1.addProduct(load16(w1 + j), xv)
            a2.addProduct(load16(w2 + j), xv)
            a3.addProduct(load16(w3 + j), xv)
            j += 16
        }
        var s0 = horizontalSum(a0), s1 = horizontalSum(a1), s2 = horizontalSum(a2), s3 = horizontalSum(a3)
        while j < cols {
            let xj = x[j]
            s0 += w0[j] * xj; s1 += w1[j] * xj; s2 += w2[j] * xj; s3 += w3[j] * xj
            j += 1
        }
        finish(r, s0); finish(r + 1, s1); finish(r + 2, s2); finish(r + 3, s3)
        r += 4
    }
    while r < range.upperBound {
        finish(r, dot(w + r * cols, x, count: cols))
        r += 1
    }
}

/// y = xᵀ · W (+ bias) (or y += … when `accumulate`), W stored (rows, cols) = (in, out) row-major — GPT-2
/// `Conv1D`'s layout.  W: (rows, cols); x: (rows); bias: (cols); y: (cols).
/// Threads take contiguous blocks of rows (so each streams its own part of W) and accumulate y-sized partial
/// sums in cache, four weight rows per pass; the partials are added at the end.
/// - Complexity: 2·rows·cols flops, rows·cols·4 bytes read once, plus threads·cols floats of reduction.
public func gemvTransposed(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                           rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    precondition(rows >= 0 && cols >= 0, "gemvTransposed: negative size")
    if cols == 0 { return }
    let pool = ThreadPool.shared
    let parts = rows * cols < gemvParallelThreshold || pool.isBusy ? 1 : min(pool.threadCount, max(1, rows / 16))
    // Partial sums: part 0 accumulates straight into a scratch buffer too, so `y` may alias nothing we read.
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: parts * cols)
    defer { scratch.deallocate() }
    if parts == 1 {
        columnSums(w, x, scratch, 0..<rows, cols: cols)
    } else {
        let blocks = (rows + 7) / 8
        pool.parallelFor(count: parts) { p in
            let r0 = min(rows, p * blocks / parts * 8), r1 = min(rows, (p + 1) * blocks / parts * 8)
            columnSums(w, x, scratch + p * cols, r0..<r1, cols: cols)
        }
    }
    var j = 0
    let body = cols - cols % 16
    while j < body {
        var s = load16(scratch + j)
        for p in 1..<max(parts, 1) { s += load16(scratch + p * cols + j) }
        if let bias { s += load16(bias + j) }
        if accumulate { s += load16(y + j) }
        store16(s, y + j)
        j += 16
    }
    while j < cols {
        var s = scratch[j]
        for p in 1..<max(parts, 1) { s += scratch[p * cols + j] }
        if let bias { s += bias[j] }
        y[j] = accumulate ? y[j] + s : s
        j += 1
    }
}

/// acc (cols) = Σ_{i in range} x[i] · W[i, :].
@inline(__always)
private func columnSums(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Float>,
                        _ range: Range<Int>, cols: Int) {
    acc.initialize(repeating: 0, count: cols)
    let body = cols - cols % 16
    var i = range.lowerBound
    // Eight weight rows per pass (eight concurrent streams, see gemvRows), two accumulator chains.
    while i + 8 <= range.upperBound {
        let w0 = w + i * cols
        let x0 = V16(repeating: x[i]), x1 = V16(repeating: x[i + 1]), x2 = V16(repeating: x[i + 2])
        let x3 = V16(repeating: x[i + 3]), x4 = V16(repeating: x[i + 4]), x5 = V16(repeating: x[i + 5])
        let x6 = V16(repeating: x[i + 6]), x7 = V16(repeating: x[i + 7])
        var j = 0
        while j < body {
            var p = w0 + j
            var a = load16(acc + j)
            var b = load16(p) * x0; p += cols
            a.addProduct(x1, load16(p)); p += cols
            b.addProduct(x2, load16(p)); p += cols
            a.addProduct(x3, load16(p)); p += cols
            b.addProduct(x4, load16(p)); p += cols
            a.addProduct(x5, load16(p)); p += cols
            b.addProduct(x6, load16(p)); p += cols
            a.addProduct(x7, load16(p))
            store16(a + b, acc + j)
            j += 16
        }
        while j < cols {
            var s = acc[j]
            for q in 0..<8 { s += x[i + q] * w0[q * cols + j] }
            acc[j] = s
            j += 1
        }
        i += 8
    }
    while i + 4 <= range.upperBound {
        let w0 = w + i * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols
        let x0 = V16(repeating: x[i]), x1 = V16(repeating: x[i + 1])
        let x2 = V16(repeating: x[i + 2]), x3 = V16(repeating: x[i + 3])
        var j = 0
        while j < body {
            var a = load16(acc + j)
            a.addProduct(x0, load16(w0 + j))
            a.addProduct(x1, load16(w1 + j))
            a.addProduct(x2, load16(w2 + j))
            a.addProduct(x3, load16(w3 + j))
            store16(a, acc + j)
            j += 16
        }
        while j < cols {
            acc[j] += x[i] * w0[j] + x[i + 1] * w1[j] + x[i + 2] * w2[j] + x[i + 3] * w3[j]
            j += 1
        }
        i += 4
    }
    while i < range.upperBound {
        let wi = w + i * cols, xi = V16(repeating: x[i])
        var j = 0
        while j < body {
            var a = load16(acc + j)
            a.addProduct(xi, load16(wi + j))
            store16(a, acc + j)
            j += 16
        }
        while j < cols { acc[j] += x[i] * wi[j]; j += 1 }
        i += 1
    }
}

/// Plain version of `gemv` (Double accumulation), for tests.
public func referenceGemv(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for r in 0..<rows {
        var s: Double = 0
        for c in 0..<cols { s += Double(w[r * cols + c]) * Double(x[c]) }
        if let bias { s += Double(bias[r]) }
        y[r] = accumulate ? y[r] + Float(s) : Float(s)
    }
}

/// Plain version of `gemvTransposed` (Double accumulation), for tests.
public func referenceGemvTransposed(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                    rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for c in 0..<cols {
        var s: Double = 0
        for r in 0..<rows { s += Double(w[r * cols + c]) * Double(x[r]) }
        if let bias { s += Double(bias[c]) }
        y[c] = accumulate ? y[c] + Float(s) : Float(s)
    }
}

/// Memory bandwidth as a batch-1 decode sees it: the best of `repetitions` runs of `gemv` (or, with `useBLAS`,
/// OpenBLAS `cblas_sgemv` on `ThreadPool.shared.threadCount` threads) over a `megabytes` float32 matrix,
/// in GB/s (10⁹ bytes of weights read per second). Allocates and touches the matrix first (not timed).
/// - Complexity: about (repetitions + 1) · megabytes of memory traffic.
public func measureBandwidthGBs(megabytes: Int = 256, repetitions: Int = 5, useBLAS: Bool = false) -> Double {
    let cols = 4096
    let rows = max(16, megabytes * 1_000_000 / 4 / cols)
    let w = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
    defer { w.deallocate() }
    for i in 0..<(rows * cols) { w[i] = Float(i % 7) * 0.25 - 0.75 }
    let x = [Float](repeating: 0.5, count: cols)
    var y = [Float](repeating: 0, count: rows)
    var best = Double.infinity
    let threads = ThreadPool.shared.threadCount
    if useBLAS { openblas_set_num_threads(Int32(threads)) }
    defer { if useBLAS { openblas_set_num_threads(1) } }
    for _ in 0..<max(1, repetitions) {
        let start = DispatchTime.now().uptimeNanoseconds
        if useBLAS {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(cols), 1, w, Int32(cols), x, 1, 0, &y, 1)
        } else {
            gemv(w, x, &y, rows: rows, cols: cols)
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start))
    }
    return Double(rows * cols * 4) / best
}
