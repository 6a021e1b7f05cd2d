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
    if cols < 4096 {
        gemvRowsSequential(w, x, y, range, cols: cols, bias: bias, accumulate: accumulate)
    } else {
        gemvRowsBlocked(w, x, y, range, cols: cols, bias: bias, accumulate: accumulate)
    }
}

/// Rows up to 4095 columns: one row at a time, so the thread reads W as one sequential stream (interleaved
/// streams only a few kilobytes long never let the prefetchers ramp up: out of cache on one Zen 4 core,
/// 25 vs 16 GB/s at 768 columns and 28 vs 23 GB/s at 3072).
@inline(never)
private func gemvRowsSequential(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ range: Range<Int>, cols: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let body = cols - cols % 16
    var r = range.lowerBound
    do {
        // Short rows: one row at a time, so the thread reads W as one sequential stream (interleaved streams
        // only a few kilobytes long never let the prefetchers ramp up: ~40% faster out of cache at 768 columns).
        while r < range.upperBound {
            let wr = w + r * cols
            var a0 = V16(), a1 = V16(), a2 = V16(), a3 = V16()
            var j = 0
            while j + 64 <= body {
                a0.addProduct(load16(wr + j), load16(x + j))
                a1.addProduct(load16(wr + j + 16), load16(x + j + 16))
                a2.addProduct(load16(wr + j + 32), load16(x + j + 32))
                a3.addProduct(load16(wr + j + 48), load16(x + j + 48))
                j += 64
            }
            while j < body { a0.addProduct(load16(wr + j), load16(x + j)); j += 16 }
            var s = horizontalSum((a0 + a1) + (a2 + a3))
            while j < cols { s += wr[j] * x[j]; j += 1 }
            if let bias { s += bias[r] }
            y[r] = accumulate ? y[r] + s : s
            r += 1
        }
    }
}

/// Long rows: eight rows per pass, eight concurrent streams sharing each x load.
@inline(never)
private func gemvRowsBlocked(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             _ range: Range<Int>, cols: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let body = cols - cols % 16
    @inline(__always) func finish(_ r: Int, _ s: Float) {
        var v = s
        if let bias { v += bias[r] }
        y[r] = accumulate ? y[r] + v : v
    }
    var r = range.lowerBound
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
        let blocks = (rows + 15) / 16
        pool.parallelFor(count: parts) { p in
            let r0 = min(rows, p * blocks / parts * 16), r1 = min(rows, (p + 1) * blocks / parts * 16)
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
    var i = range.lowerBound
    if cols <= 1024 { i = columnSums16(w, x, acc, range, cols: cols) }
    columnSumsRest(w, x, acc, i..<range.upperBound, cols: cols)
}

/// Short rows: sixteen weight rows per pass (a 16·cols block read as sixteen streams; ~20% faster out of
/// cache than eight at 768 columns, slower for long rows where the accumulator no longer stays in L1),
/// added to `acc`. Returns the first row not done.
@inline(never)
private func columnSums16(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Float>,
                          _ range: Range<Int>, cols: Int) -> Int {
    let body = cols - cols % 16
    var i = range.lowerBound
    while i + 16 <= range.upperBound {
        let w0 = w + i * cols
        let xi = x + i
        let x0 = V16(repeating: xi[0]), x1 = V16(repeating: xi[1]), x2 = V16(repeating: xi[2]), x3 = V16(repeating: xi[3])
        let x4 = V16(repeating: xi[4]), x5 = V16(repeating: xi[5]), x6 = V16(repeating: xi[6]), x7 = V16(repeating: xi[7])
        let x8 = V16(repeating: xi[8]), x9 = V16(repeating: xi[9]), x10 = V16(repeating: xi[10]), x11 = V16(repeating: xi[11])
        let x12 = V16(repeating: xi[12]), x13 = V16(repeating: xi[13]), x14 = V16(repeating: xi[14]), x15 = V16(repeating: xi[15])
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
            a.addProduct(x7, load16(p)); p += cols
            b.addProduct(x8, load16(p)); p += cols
            a.addProduct(x9, load16(p)); p += cols
            b.addProduct(x10, load16(p)); p += cols
            a.addProduct(x11, load16(p)); p += cols
            b.addProduct(x12, load16(p)); p += cols
            a.addProduct(x13, load16(p)); p += cols
            b.addProduct(x14, load16(p)); p += cols
            a.addProduct(x15, load16(p))
            store16(a + b, acc + j)
            j += 16
        }
        while j < cols {
            var s = acc[j]
            for q in 0..<16 { s += xi[q] * w0[q * cols + j] }
            acc[j] = s
            j += 1
        }
        i += 16
    }
    return i
}

/// Rows `range` of the column sums in passes of eight, four and one rows, added to `acc`.
@inline(never)
private func columnSumsRest(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Float>,
                            _ range: Range<Int>, cols: Int) {
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

/// Memory bandwidth as a batch-1 decode sees it: `gemv` (or, with `useBLAS`, OpenBLAS `cblas_sgemv` on
/// `ThreadPool.shared.threadCount` threads) over a `megabytes` float32 matrix, in GB/s (10⁹ bytes of weights
/// read per second). The matrix is swept in 8 MB row blocks, each timed on its own, and each block's best time
/// over `repetitions` sweeps counts, so a run preempted on a busy machine does not drag the figure down.
/// The matrix is allocated and touched first (not timed); it should be well beyond the last-level cache.
/// - Complexity: about (repetitions + 1) · megabytes of memory traffic.
public func measureBandwidthGBs(megabytes: Int = 256, repetitions: Int = 5, useBLAS: Bool = false) -> Double {
    let cols = 4096
    let blockRows = 512                                   // 8 MB per block
    let blocks = max(1, megabytes * 1_000_000 / 4 / cols / blockRows)
    let rows = blocks * blockRows
    let w = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
    defer { w.deallocate() }
    for i in 0..<(rows * cols) { w[i] = Float(i % 7) * 0.25 - 0.75 }
    let x = [Float](repeating: 0.5, count: cols)
    var y = [Float](repeating: 0, count: rows)
    var best = [Double](repeating: .infinity, count: blocks)
    let threads = ThreadPool.shared.threadCount
    if useBLAS { verba_blas_set_threads(Int32(threads)) }
    defer { if useBLAS { verba_blas_set_threads(1) } }
    for _ in 0..<max(1, repetitions) {
        for b in 0..<blocks {
            let wb = w + b * blockRows * cols
            let start = DispatchTime.now().uptimeNanoseconds
            y.withUnsafeMutableBufferPointer { out in
                if useBLAS {
                    verba_sgemv(CblasRowMajor, CblasNoTrans, Int32(blockRows), Int32(cols), 1, wb, Int32(cols), x, 1, 0,
                                out.baseAddress! + b * blockRows, 1)
                } else {
                    gemv(wb, x, out.baseAddress! + b * blockRows, rows: blockRows, cols: cols)
                }
            }
            best[b] = min(best[b], Double(DispatchTime.now().uptimeNanoseconds - start))
        }
    }
    return Double(rows * cols * 4) / best.reduce(0, +)
}
