import CBLAS
import CVerbaKernels
import Foundation

// Matrix–vector products for batch-1 decoding. Each weight is read once and used for one multiply-add, so
// these kernels are bound by memory bandwidth: they stream every matrix once, in address order, each thread
// over its own contiguous slice of it. The inner loops are CVerbaKernels' (FMA on 16-float vectors, at the
// CPU level chosen at run time); this file splits the work over the thread pool.

/// Below this many weights a product runs on the calling thread (waking the pool costs more than it saves).
let gemvParallelThreshold = 32_768

/// y = W · x (+ bias) (or y += … when `accumulate`), W stored (rows, cols) row-major — PyTorch `nn.Linear`'s
/// (out_features, in_features) layout.  W: (rows, cols); x: (cols); bias: (rows); y: (rows).
/// Threads take contiguous blocks of rows; each row is a dot product, four rows at a time sharing each x load.
/// - Complexity: 2·rows·cols flops, rows·cols·4 bytes read once.
package func gemv(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
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

/// Rows `range` of `gemv`, on the calling thread (the CPU level's kernel: up to 4095 columns one row at a
/// time, so the thread reads W as one sequential stream; longer rows eight at a time sharing each x load).
@inline(__always)
private func gemvRows(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      _ range: Range<Int>, cols: Int, bias: UnsafePointer<Float>?, accumulate: Bool) {
    verba_gemv_rows(w, x, y, range.lowerBound, range.upperBound, cols, bias, accumulate ? 1 : 0)
}

/// y = xᵀ · W (+ bias) (or y += … when `accumulate`), W stored (rows, cols) = (in, out) row-major — GPT-2
/// `Conv1D`'s layout.  W: (rows, cols); x: (rows); bias: (cols); y: (cols).
/// Threads take contiguous blocks of rows (so each streams its own part of W) and accumulate y-sized partial
/// sums in cache, many weight rows per pass; the partials are added at the end.
/// - Complexity: 2·rows·cols flops, rows·cols·4 bytes read once, plus threads·cols floats of reduction.
package func gemvTransposed(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
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
    for p in 1..<max(parts, 1) { verba_add(scratch + p * cols, scratch, cols) }
    if let bias { verba_add(bias, scratch, cols) }
    if accumulate { verba_add(y, scratch, cols) }
    y.update(from: scratch, count: cols)
}

/// acc (cols) = Σ_{i in range} x[i] · W[i, :], the CPU level's kernel (sixteen weight rows per pass for
/// short rows, whose accumulator stays in L1, then eight, then one, each pass sharing its acc loads).
@inline(__always)
private func columnSums(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Float>,
                        _ range: Range<Int>, cols: Int) {
    verba_column_sums(w, x, acc, range.lowerBound, range.upperBound, cols)
}

/// Plain version of `gemv` (Double accumulation), for tests.
package func referenceGemv(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                          rows: Int, cols: Int, bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for r in 0..<rows {
        var s: Double = 0
        for c in 0..<cols { s += Double(w[r * cols + c]) * Double(x[c]) }
        if let bias { s += Double(bias[r]) }
        y[r] = accumulate ? y[r] + Float(s) : Float(s)
    }
}

/// Plain version of `gemvTransposed` (Double accumulation), for tests.
package func referenceGemvTransposed(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
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
package func measureBandwidthGBs(megabytes: Int = 256, repetitions: Int = 5, useBLAS: Bool = false) -> Double {
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
