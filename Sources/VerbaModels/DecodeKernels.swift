// The matrix-vector products of one-token decode steps. A batch-1 decode step reads every weight once
// and does two flops per weight read, so its speed is set by memory bandwidth: these kernels stream each
// weight matrix exactly once, in address order, split between threads into contiguous slices, with
// vector FMAs (SIMD16 lowers to zmm on AVX-512, 2 x ymm on AVX2 with -march=native).
// Each fast kernel has a plain reference version (`reference*`) that the tests check it against.
import Foundation
import VerbaTensor

/// Parallel loops for the decode kernels: `run(n) { i in ... }` calls the body for 0..<n, spread over
/// the worker threads (the calling thread takes part).
public enum DecodeThreads {
    nonisolated(unsafe) private static var configured = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Threads the decode kernels use (default: the number of active processors).
    public static var count: Int {
        get { configured }
        set { configured = max(1, newValue) }
    }

    /// Calls `body(i)` for every i in 0..<n, concurrently when n > 1.
    static func run(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 { if n == 1 { body(0) }; return }
        DispatchQueue.concurrentPerform(iterations: n, execute: body)
    }
}

@inline(__always) private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) private func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// acc (n) += x0·w0 + x1·w1 + x2·w2 + x3·w3 over four weight rows of n floats each.
@inline(__always) private func axpy4(_ acc: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, rowStride: Int,
                                     _ x0: Float, _ x1: Float, _ x2: Float, _ x3: Float, n: Int) {
    let w0 = w, w1 = w + rowStride, w2 = w + 2 * rowStride, w3 = w + 3 * rowStride
    let v0 = SIMD16<Float>(repeating: x0), v1 = SIMD16<Float>(repeating: x1)
    let v2 = SIMD16<Float>(repeating: x2), v3 = SIMD16<Float>(repeating: x3)
    var j = 0
    while j + 16 <= n {
        var a = load16(acc + j)
        a.addProduct(v0, load16(w0 + j))
        a.addProduct(v1, load16(w1 + j))
        a.addProduct(v2, load16(w2 + j))
        a.addProduct(v3, load16(w3 + j))
        store16(a, acc + j)
        j += 16
    }
    while j < n {
        acc[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
        j += 1
    }
}

/// acc (n) += x0·w0 over one weight row.
@inline(__always) private func axpy1(_ acc: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, _ x0: Float, n: Int) {
    let v0 = SIMD16<Float>(repeating: x0)
    var j = 0
    while j + 16 <= n {
        var a = load16(acc + j)
        a.addProduct(v0, load16(w + j))
        store16(a, acc + j)
        j += 16
    }
    while j < n { acc[j] += x0 * w[j]; j += 1 }
}

/// Scratch for `vectorTimesMatrix`: one partial output row per thread.
final class DecodeScratch {
    private(set) var partial: UnsafeMutablePointer<Float>
    private var capacity: Int

    init() { capacity = 0; partial = .allocate(capacity: 1) }
    deinit { partial.deallocate() }

    func reserve(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            partial.deallocate()
            partial = .allocate(capacity: n)
            capacity = n
        }
        return partial
    }
}

/// y = x · W + bias, or y += x · W + bias when `accumulate`: the batch-1 product with a weight stored
/// (inputs, outputs) as GPT-2's Conv1D layers store it.  x: (k); W: (k, n) row-major; bias: (n); y: (n).
/// Threads take contiguous row slices of W (each streams its own part of memory) into partial outputs,
/// which are then summed.
/// - Complexity: 2·k·n flops, k·n·4 bytes read once.
func vectorTimesMatrix(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                       _ y: UnsafeMutablePointer<Float>, k: Int, n: Int, accumulate: Bool, scratch: DecodeScratch) {
    precondition(k > 0 && n > 0, "vectorTimesMatrix: empty product")
    // Slices of at least 64 rows, rounded to multiples of 4; at most `DecodeThreads.count` of them.
    let threads = max(1, min(DecodeThreads.count, k / 64))
    let partial = scratch.reserve(threads * n)
    let rowsPer = ((k + threads - 1) / threads + 3) / 4 * 4
    DecodeThreads.run(threads) { t in
        let acc = partial + t * n
        acc.initialize(repeating: 0, count: n)
        let r0 = min(k, t * rowsPer), r1 = min(k, r0 + rowsPer)
        var i = r0
        while i + 4 <= r1 {
            axpy4(acc, w + i * n, rowStride: n, x[i], x[i + 1], x[i + 2], x[i + 3], n: n)
            i += 4
        }
        while i < r1 { axpy1(acc, w + i * n, x[i], n: n); i += 1 }
    }
    for j in 0..<n {
        var s: Float = accumulate ? y[j] : 0
        if let bias { s += bias[j] }
        for t in 0..<threads { s += partial[t * n + j] }
        y[j] = s
    }
}

/// Plain version of `vectorTimesMatrix` (Double accumulation), for tests.
public func referenceVectorTimesMatrix(_ x: [Float], _ w: [Float], bias: [Float]?, k: Int, n: Int) -> [Float] {
    precondition(x.count == k && w.count == k * n && (bias == nil || bias!.count == n))
    var y = [Float](repeating: 0, count: n)
    for j in 0..<n {
        var s: Double = bias.map { Double($0[j]) } ?? 0
        for i in 0..<k { s += Double(x[i]) * Double(w[i * n + j]) }
        y[j] = Float(s)
    }
    return y
}

/// The fast kernel behind `referenceVectorTimesMatrix`, on arrays (for tests and callers outside a model).
public func decodeVectorTimesMatrix(_ x: [Float], _ w: [Float], bias: [Float]?, k: Int, n: Int) -> [Float] {
    precondition(x.count == k && w.count == k * n && (bias == nil || bias!.count == n))
    var y = [Float](repeating: 0, count: n)
    let scratch = DecodeScratch()
    x.withUnsafeBufferPointer { xp in
        w.withUnsafeBufferPointer { wp in
            y.withUnsafeMutableBufferPointer { yp in
                if let bias {
                    bias.withUnsafeBufferPointer { bp in
                        vectorTimesMatrix(xp.baseAddress!, wp.baseAddress!, bias: bp.baseAddress!, yp.baseAddress!,
                                          k: k, n: n, accumulate: false, scratch: scratch)
                    }
                } else {
                    vectorTimesMatrix(xp.baseAddress!, wp.baseAddress!, bias: nil, yp.baseAddress!,
                                      k: k, n: n, accumulate: false, scratch: scratch)
                }
            }
        }
    }
    return y
}

/// Four dot products of rows of W (stride k) with x, in vector registers.
@inline(__always) private func dot4(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, k: Int)
    -> (Float, Float, Float, Float) {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    let w0 = w, w1 = w + k, w2 = w + 2 * k, w3 = w + 3 * k
    var j = 0
    while j + 16 <= k {
        let xv = load16(x + j)
        a0.addProduct(xv, load16(w0 + j))
        a1.addProduct(xv, load16(w1 + j))
        a2.addProduct(xv, load16(w2 + j))
        a3.addProduct(xv, load16(w3 + j))
        j += 16
    }
    var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
    while j < k {
        s0 += w0[j] * x[j]; s1 += w1[j] * x[j]; s2 += w2[j] * x[j]; s3 += w3[j] * x[j]
        j += 1
    }
    return (s0, s1, s2, s3)
}

@inline(__always) private func dot1(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, k: Int) -> Float {
    var a = SIMD16<Float>()
    var j = 0
    while j + 16 <= k { a.addProduct(load16(x + j), load16(w + j)); j += 16 }
    var s = a.sum()
    while j < k { s += w[j] * x[j]; j += 1 }
    return s
}

/// y = W · x for a weight stored (outputs, inputs), as the tied LM head (the token embedding) is.
/// W: (n, k) row-major; x: (k); y: (n). Threads take contiguous row slices.
/// - Complexity: 2·n·k flops, n·k·4 bytes read once.
func matrixTimesVector(_ w: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int, k: Int) {
    precondition(k > 0 && n > 0, "matrixTimesVector: empty product")
    let threads = max(1, min(DecodeThreads.count, n / 64))
    let rowsPer = ((n + threads - 1) / threads + 3) / 4 * 4
    DecodeThreads.run(threads) { t in
        let r0 = min(n, t * rowsPer), r1 = min(n, r0 + rowsPer)
        var r = r0
        while r + 4 <= r1 {
            let (s0, s1, s2, s3) = dot4(w + r * k, x, k: k)
            y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3
            r += 4
        }
        while r < r1 { y[r] = dot1(w + r * k, x, k: k); r += 1 }
    }
}

/// Plain version of `matrixTimesVector` (Double accumulation), for tests.
public func referenceMatrixTimesVector(_ w: [Float], _ x: [Float], n: Int, k: Int) -> [Float] {
    precondition(x.count == k && w.count == n * k)
    return (0..<n).map { r in
        var s: Double = 0
        for j in 0..<k { s += Double(w[r * k + j]) * Double(x[j]) }
        return Float(s)
    }
}

/// The fast kernel behind `referenceMatrixTimesVector`, on arrays.
public func decodeMatrixTimesVector(_ w: [Float], _ x: [Float], n: Int, k: Int) -> [Float] {
    precondition(x.count == k && w.count == n * k)
    var y = [Float](repeating: 0, count: n)
    w.withUnsafeBufferPointer { wp in
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                matrixTimesVector(wp.baseAddress!, xp.baseAddress!, yp.baseAddress!, n: n, k: k)
            }
        }
    }
    return y
}

/// Dot product of two float vectors of length n (vectorized).
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    dot1(a, b, k: n)
}

/// acc (n) += s · v (vectorized).
@inline(__always) func addScaled(_ acc: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, _ s: Float, _ n: Int) {
    axpy1(acc, v, s, n: n)
}
