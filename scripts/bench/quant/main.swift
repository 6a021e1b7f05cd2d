// Batch-1 decode bandwidth of the quantized GEMV: GB/s of quantized weight bytes read per second for each
// type and shape, next to the float32 GEMV's GB/s over the same number of bytes (the bandwidth bound),
// at 1 and 2 threads; then the batched product (prefill) in GFLOP/s. Built and run by
// scripts/bench-quant.sh (release mode). Each shape is copied enough times to fill `--megabytes` (256 MB
// by default, far beyond the last-level cache) and the copies are swept in turn, as a decode step sweeps
// its layers.
import Foundation
import VerbaSupport
import VerbaTensor

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func cpuModel() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
    let model = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "unknown"
    let vnni = text.contains(" avx512_vnni") ? ", VNNI" : ""
    return model + (text.contains(" avx512f") ? ", AVX-512" : text.contains(" avx2") ? ", AVX2" : "") + vnni
}

let args = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) else { return fallback }
    return v
}
let megabytes = option("--megabytes", 256)
let repetitions = option("--repetitions", 7)
let maxThreads = option("--threads", 2)

print("cpu: \(cpuModel()); kernels: \(CPULevel.current); sweep \(megabytes) MB, best of \(repetitions)")

/// GB/s of `gemv` over copies of one matrix totalling about `megabytes`, each copy timed in slices of
/// rows of at most 4 MB (a slice's best time over the repetitions counts, so one preempted slice does not
/// spoil a copy on a busy machine).
func sweep(_ type: GGMLType, rows: Int, cols: Int) -> Double {
    let rowBytes = type.rowBytes(columns: cols), bytes = rows * rowBytes
    let copies = max(2, megabytes * 1_000_000 / bytes)
    let memory = UnsafeMutableRawPointer.allocate(byteCount: copies * bytes, alignment: 64)
    defer { memory.deallocate() }
    // One matrix quantized from seeded values, then copied.
    var rng = SplitMix64(seed: 42)
    let floats = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
    quantizeRow(type, floats, memory, count: rows * cols)
    for c in 1..<copies { (memory + c * bytes).copyMemory(from: memory, byteCount: bytes) }
    let x = (0..<cols).map { _ in Float.random(in: -1...1, using: &rng) }
    var y = [Float](repeating: 0, count: rows)
    let sliceRows = max(8, min(rows, 4_000_000 / rowBytes) / 8 * 8)
    var slices: [(base: UnsafeRawPointer, rows: Int)] = []
    for c in 0..<copies {
        var r = 0
        while r < rows {
            slices.append((UnsafeRawPointer(memory + c * bytes + r * rowBytes), min(sliceRows, rows - r)))
            r += sliceRows
        }
    }
    var bestNs = [UInt64](repeating: .max, count: slices.count)
    for _ in 0...repetitions {                        // the first sweep warms up
        for (i, slice) in slices.enumerated() {
            let w = WeightMatrix(base: slice.base, type: type, rows: slice.rows, cols: cols)
            let start = now()
            gemv(w, x, &y)
            bestNs[i] = min(bestNs[i], now() - start)
        }
    }
    return Double(copies * bytes) / Double(bestNs.reduce(0, +))
}

let shapes = [(4096, 4096), (576, 1536), (1536, 576)]
let types: [GGMLType] = [.q8_0, .q4_0, .q4_K, .q6_K]
for threads in 1...maxThreads {
    ThreadPool.shared.setThreads(threads)
    for (rows, cols) in shapes {
        let bound = sweep(.f32, rows: rows, cols: cols)
        var line = String(format: "gemv %dT %4d×%-4d  f32 %5.1f GB/s (bound)", threads, rows, cols, bound)
        for type in types where cols % type.blockSize == 0 {
            let gbs = sweep(type, rows: rows, cols: cols)
            line += String(format: " | %@ %5.1f GB/s %3.0f%%", type.name, gbs, 100 * gbs / bound)
        }
        print(line)
    }
}

// Batched rows (prefill): GFLOP/s of 2·m·rows·cols.
ThreadPool.shared.setThreads(maxThreads)
for (rows, cols) in [(4096, 4096), (1536, 576)] {
    let m = 128
    var rng = SplitMix64(seed: 7)
    let a = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
    var c = [Float](repeating: 0, count: m * rows)
    var line = String(format: "matmul %dT m=%d %4d×%-4d", maxThreads, m, rows, cols)
    for type in types where cols % type.blockSize == 0 {
        let floats = (0..<(rows * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
        var bytes = [UInt8](repeating: 0, count: rows * type.rowBytes(columns: cols))
        bytes.withUnsafeMutableBytes { quantizeRow(type, floats, $0.baseAddress!, count: rows * cols) }
        var bestNs = UInt64.max
        bytes.withUnsafeBytes { raw in
            let w = WeightMatrix(base: raw.baseAddress!, type: type, rows: rows, cols: cols)
            for _ in 0...3 {
                let start = now()
                matmul(a, w, &c, m: m)
                bestNs = min(bestNs, now() - start)
            }
        }
        line += String(format: " | %@ %6.1f GFLOP/s", type.name, 2 * Double(m * rows * cols) / Double(bestNs))
    }
    print(line)
}
