// Benchmarks of VerbaTensor's kernels against OpenBLAS and the reference versions, measured in the same run.
// Built and run by scripts/bench-tensor.sh (release mode). Prints one line per measurement.
import CBLAS
import Foundation
import VerbaTensor

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Best wall time of `body` over `repetitions` runs (after one warm-up run).
func best(_ repetitions: Int, _ body: () -> Void) -> Double {
    body()
    var t = Double.infinity
    for _ in 0..<repetitions { let s = now(); body(); t = min(t, now() - s) }
    return t
}

func cpuModel() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    let model = text.split(separator: "\n").first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown"
    func field(_ name: String) -> String {
        text.split(separator: "\n").first { $0.hasPrefix(name) }.map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "?"
    }
    let avx512 = text.contains(" avx512f") ? "AVX-512" : (text.contains(" avx2") ? "AVX2" : "no AVX2")
    // AMD family 25 is Zen 3 (models 0x00-0x0f, 0x20-0x5f) or Zen 4 (0x10-0x1f, 0x60-0xaf); family 26 is Zen 5.
    return "\(model) (family \(field("cpu family")), model \(field("model\t")), \(field("cpu MHz")) MHz), \(avx512)"
}

func buffer(_ n: Int, _ seed: Int = 1) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
    for i in 0..<n { p[i] = Float((i &* 2654435761 &+ seed) % 1000) * 0.002 - 1 }
    return p
}

let args = CommandLine.arguments
let quick = args.contains("--quick")
let threads = ThreadPool.shared.threadCount
print("cpu: \(cpuModel()); threads: \(threads); OpenBLAS core: \(String(cString: openblas_get_corename())); OPENBLAS_CORETYPE=\(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)")")

// MARK: Thread pool
do {
    var sink = 0
    let n = 20_000
    let t = best(3) { for _ in 0..<n { ThreadPool.shared.parallelFor(count: threads) { i in if i == 99 { sink += 1 } } } }
    print(String(format: "threadpool: empty parallelFor over %d threads: %.2f us", threads, t / Double(n) * 1e6))
}

// MARK: sgemm
print("sgemm (C = A·Bᵀ, B as nn.Linear weights (n, k)): GFLOP/s, our pool-split single-thread BLAS vs OpenBLAS on \(threads) threads")
let shapes: [(String, Int, Int, Int)] = [
    ("BERT T=128 qkv", 128, 1152, 384), ("BERT T=128 attn-out", 128, 384, 384), ("BERT T=128 ffn-up", 128, 1536, 384),
    ("BERT T=128 ffn-down", 128, 384, 1536), ("BERT 32x128 ffn-up", 4096, 1536, 384), ("BERT 32x128 ffn-down", 4096, 384, 1536),
    ("BERT T=16 ffn-up", 16, 1536, 384), ("GPT2 T=128 qkv", 128, 2304, 768), ("GPT2 T=128 mlp-up", 128, 3072, 768),
    ("square 2048", 2048, 2048, 2048),
]
for (name, m, n, k) in shapes {
    let a = buffer(m * k, 1), b = buffer(n * k, 2), c = buffer(m * n, 3)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    let flops = 2.0 * Double(m * n * k)
    let reps = quick ? 2 : max(3, min(50, Int(2e10 / flops)))
    let ours = best(reps) { matmul(a, b, c, m: m, n: n, k: k, transposeB: true) }
    openblas_set_num_threads(Int32(threads))
    let blas = best(reps) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
    }
    openblas_set_num_threads(1)
    let single = best(reps) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
    }
    print(String(format: "  %-22@ m=%4d n=%4d k=%4d: ours %6.1f, OpenBLAS %dT %6.1f, OpenBLAS 1T %6.1f  (ours/OpenBLAS %.2f)",
                 name as NSString, m, n, k, flops / ours * 1e-9, threads, flops / blas * 1e-9, flops / single * 1e-9, blas / ours))
}

// MARK: gemv
let mb = quick ? 128 : 256
let bwOurs = measureBandwidthGBs(megabytes: mb, repetitions: 5)
let bwBLAS = measureBandwidthGBs(megabytes: mb, repetitions: 5, useBLAS: true)
print(String(format: "bandwidth (%d MB sgemv): ours %.1f GB/s, OpenBLAS cblas_sgemv %dT %.1f GB/s (ratio %.2f)", mb, bwOurs, threads, bwBLAS, bwOurs / bwBLAS))

// A GPT-2 124M decode step's weights: 12 × (qkv 768→2304, proj 768→768, fc 768→3072, proj 3072→768) + lm head 50257×768.
do {
    struct Mat { let w: UnsafeMutablePointer<Float>; let rows: Int; let cols: Int }
    var layers: [(Int, Int)] = []
    for _ in 0..<12 { layers += [(768, 2304), (768, 768), (768, 3072), (3072, 768)] }   // Conv1D (in, out)
    let mats = layers.map { Mat(w: buffer($0.0 * $0.1), rows: $0.0, cols: $0.1) }
    let head = Mat(w: buffer(50257 * 768), rows: 50257, cols: 768)                     // Linear (out, in)
    let bytes = Double((mats.reduce(0) { $0 + $1.rows * $1.cols } + head.rows * head.cols) * 4)
    let x = buffer(3072), y = buffer(50257)
    let reps = quick ? 3 : 10
    // Each product is timed on its own and its best time over the passes counts (robust to preemption on a
    // busy machine); the step time is the sum. The lm head (154 MB) is timed in 8 row blocks.
    func step(_ calls: [() -> Void]) -> Double {
        var bestTimes = [Double](repeating: .infinity, count: calls.count)
        for _ in 0..<reps {
            for (i, call) in calls.enumerated() { let s = now(); call(); bestTimes[i] = min(bestTimes[i], now() - s) }
        }
        return bestTimes.reduce(0, +)
    }
    let headBlocks = (0..<8).map { b in (b * head.rows / 8, (b + 1) * head.rows / 8) }
    let ours = step(mats.map { m in { gemvTransposed(m.w, x, y, rows: m.rows, cols: m.cols) } }
        + headBlocks.map { r in { gemv(head.w + r.0 * head.cols, x, y, rows: r.1 - r.0, cols: head.cols) } })
    openblas_set_num_threads(Int32(threads))
    let blas = step(mats.map { m in { cblas_sgemv(CblasRowMajor, CblasTrans, Int32(m.rows), Int32(m.cols), 1, m.w, Int32(m.cols), x, 1, 0, y, 1) } }
        + headBlocks.map { r in { cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(r.1 - r.0), Int32(head.cols), 1, head.w + r.0 * head.cols, Int32(head.cols), x, 1, 0, y, 1) } })
    openblas_set_num_threads(1)
    print(String(format: "GPT-2 124M decode weights (%.0f MB, 48 Conv1D gemvTransposed + lm-head gemv): ours %.2f ms = %.1f GB/s (%.0f%% of the %.1f GB/s bound), OpenBLAS sgemv %.2f ms = %.1f GB/s",
                 bytes / 1e6, ours * 1e3, bytes / ours * 1e-9, bytes / ours * 1e-9 / bwOurs * 100, bwOurs, blas * 1e3, bytes / blas * 1e-9))
    for m in mats { m.w.deallocate() }
    head.w.deallocate(); x.deallocate(); y.deallocate()
}

// MARK: elementwise kernels
do {
    let rows = 128, n = 1536
    let x = buffer(rows * n), out = buffer(rows * n), g = buffer(n), b = buffer(n)
    func rate(_ name: String, _ fast: () -> Void, _ reference: () -> Void) {
        let f = best(20, fast), r = best(5, reference)
        print(String(format: "  %-10@ (%d×%d): fast %7.1f us, reference %8.1f us (%.1fx)", name as NSString, rows, n, f * 1e6, r * 1e6, r / f))
    }
    print("elementwise kernels:")
    rate("layerNorm", { layerNorm(x, out, gamma: g, beta: b, rows: rows, n: n, eps: 1e-12) },
         { referenceLayerNorm(x, out, gamma: g, beta: b, rows: rows, n: n, eps: 1e-12) })
    rate("softmax", { out.update(from: x, count: rows * n); softmax(out, rows: rows, n: n) },
         { out.update(from: x, count: rows * n); referenceSoftmax(out, rows: rows, n: n) })
    rate("geluErf", { out.update(from: x, count: rows * n); geluErf(out, count: rows * n) },
         { out.update(from: x, count: rows * n); referenceGeluErf(out, count: rows * n) })
    rate("geluTanh", { out.update(from: x, count: rows * n); geluTanh(out, count: rows * n) },
         { out.update(from: x, count: rows * n); referenceGeluTanh(out, count: rows * n) })
}
