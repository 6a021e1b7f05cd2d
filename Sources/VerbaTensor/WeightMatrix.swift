import CVerbaKernels
import Foundation

// A weight matrix as a checkpoint stores it — float32, float16, bfloat16 or one of ggml's quantized block
// formats — computed from in place. Float32 goes straight to the float kernels. A 16-bit matrix is never
// copied whole into float32: each product converts one tile of rows at a time into a small float32 buffer
// (cache-resident) and runs the float kernel on it, so resident memory stays the size of the checkpoint.
// A quantized matrix is read block by block by the quantized kernels (Quantization/QuantizedProducts.swift).

/// A (rows, cols) row-major weight matrix (PyTorch `nn.Linear`'s (out, in) layout) in float32, float16,
/// bfloat16 or a ggml block format (each row `type.rowBytes(columns: cols)` bytes), borrowed from memory the caller keeps alive (a memory-mapped checkpoint).
/// Sendable: immutable after init (every stored property is a `let`), and it only reads through `base`
/// (never writes), so threads may share it as long as the borrowed memory is not written meanwhile (a
/// read-only mapping, or the float32 copies `ModelWeights` keeps and never changes).
package struct WeightMatrix: @unchecked Sendable {
    package enum Element: Sendable, Equatable {
        case f32, f16, bf16
        /// Rows of ggml blocks of a type `hasQuantizedKernel` accepts.
        case quantized(GGMLType)

        /// The ggml type of the same layout.
        package var ggmlType: GGMLType {
            switch self {
            case .f32: return .f32
            case .f16: return .f16
            case .bf16: return .bf16
            case .quantized(let type): return type
            }
        }
    }
    package let base: UnsafeRawPointer
    package let element: Element
    package let rows: Int
    package let cols: Int

    package init(base: UnsafeRawPointer, element: Element, rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "WeightMatrix: negative size")
        if case .quantized(let type) = element {
            precondition(hasQuantizedKernel(type), "WeightMatrix: no quantized kernel for \(type)")
            precondition(cols % type.blockSize == 0, "WeightMatrix: \(cols) columns is not a multiple of \(type)'s block size")
        }
        self.base = base
        self.element = element
        self.rows = rows
        self.cols = cols
    }

    /// A matrix stored as ggml `type` (F32, F16, BF16 or a type `hasQuantizedKernel` accepts).
    package init(base: UnsafeRawPointer, type: GGMLType, rows: Int, cols: Int) {
        let element: Element
        switch type {
        case .f32: element = .f32
        case .f16: element = .f16
        case .bf16: element = .bf16
        default: element = .quantized(type)
        }
        self.init(base: base, element: element, rows: rows, cols: cols)
    }

    /// A float32 matrix.
    package init(_ floats: UnsafePointer<Float>, rows: Int, cols: Int) {
        self.init(base: UnsafeRawPointer(floats), element: .f32, rows: rows, cols: cols)
    }

    /// Bytes the matrix occupies.
    package var byteCount: Int { rows * rowBytes }

    /// Bytes of one row.
    package var rowBytes: Int { element.ggmlType.rowBytes(columns: cols) }

    /// Writes rows r0..<r1 as float32 into `destination` ((r1 − r0) · cols floats).
    package func convertRows(_ r0: Int, _ r1: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(0 <= r0 && r0 <= r1 && r1 <= rows, "WeightMatrix.convertRows: rows outside the matrix")
        let n = (r1 - r0) * cols
        switch element {
        case .f32: destination.update(from: base.assumingMemoryBound(to: Float.self) + r0 * cols, count: n)
        case .f16: verba_half_to_float(base + 2 * r0 * cols, destination, n)
        case .bf16: verba_bf16_to_float(base + 2 * r0 * cols, destination, n)
        case .quantized(let type):
            for r in r0..<r1 { dequantizeRow(type, base + r * rowBytes, destination + (r - r0) * cols, count: cols) }
        }
    }
}

/// Rows of a 16-bit matrix converted per gemv tile (a tile of 16 rows of 4096 columns is 256 KB).
private let gemvTileRows = 16
/// Rows of a 16-bit matrix converted per matmul tile.
private let matmulTileRows = 64

/// y = W · x (+ bias) (or y += … when `accumulate`) for any `WeightMatrix`: `gemv` for float32; for 16-bit
/// weights, threads take contiguous blocks of rows and convert them `gemvTileRows` at a time; for quantized
/// weights `quantizedGemv`.
package func gemv(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                  bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    let rows = w.rows, cols = w.cols
    if w.element == .f32 {
        gemv(w.base.assumingMemoryBound(to: Float.self), x, y, rows: rows, cols: cols, bias: bias, accumulate: accumulate)
        return
    }
    if case .quantized(let type) = w.element {
        quantizedGemv(type, w.base, x, y, rows: rows, cols: cols, bias: bias, accumulate: accumulate)
        return
    }
    if rows == 0 { return }
    let tile = gemvTileRows
    let blocks = (rows + tile - 1) / tile
    let pool = ThreadPool.shared
    let parts = rows * cols < gemvParallelThreshold || pool.isBusy ? 1 : min(pool.threadCount, blocks)
    let work = { (p: Int) in
        let b0 = p * blocks / parts, b1 = (p + 1) * blocks / parts
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tile * cols) { buf in
            let t = buf.baseAddress!
            for b in b0..<b1 {
                let r0 = b * tile, r1 = min(rows, r0 + tile)
                w.convertRows(r0, r1, into: t)
                verba_gemv_rows(t, x, y + r0, 0, r1 - r0, cols, bias.map { $0 + r0 }, accumulate ? 1 : 0)
            }
        }
    }
    if parts == 1 { work(0) } else { pool.parallelFor(count: parts, body: work) }
}

/// C (m, rows) = A (m, cols) · Wᵀ (+ beta · C) for any `WeightMatrix`: one `matmul` for float32; for
/// 16-bit weights, one per tile of `matmulTileRows` rows of W, converted just before it is used; for
/// quantized weights `quantizedMatmul`.
package func matmul(_ a: UnsafePointer<Float>, _ w: WeightMatrix, _ c: UnsafeMutablePointer<Float>, m: Int, beta: Float = 0) {
    let n = w.rows, k = w.cols
    if w.element == .f32 {
        matmul(a, w.base.assumingMemoryBound(to: Float.self), c, m: m, n: n, k: k, transposeB: true, beta: beta)
        return
    }
    if case .quantized(let type) = w.element {
        quantizedMatmul(a, type, w.base, c, m: m, rows: n, cols: k, beta: beta)
        return
    }
    if m == 0 || n == 0 { return }
    let tile = min(n, matmulTileRows)
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * k)
    defer { buffer.deallocate() }
    var j0 = 0
    while j0 < n {
        let j1 = min(n, j0 + tile)
        w.convertRows(j0, j1, into: buffer)
        matmul(a, lda: k, buffer, ldb: k, c + j0, ldc: n, m: m, n: j1 - j0, k: k, transposeB: true, beta: beta)
        j0 = j1
    }
}

/// Plain version of both products over a `WeightMatrix`: out (m, rows) = a (m, cols) · Wᵀ, Double sums
/// (quantized weights dequantized, activations in float: the products' exact target, without their
/// activation quantization).
package func referenceLinear(_ a: UnsafePointer<Float>, _ w: WeightMatrix, _ out: UnsafeMutablePointer<Float>, m: Int) {
    var row = [Float](repeating: 0, count: w.cols)
    for j in 0..<w.rows {
        row.withUnsafeMutableBufferPointer { r in
            for c in 0..<w.cols {
                switch w.element {
                case .f32: r[c] = w.base.load(fromByteOffset: 4 * (j * w.cols + c), as: Float.self)
                case .f16: r[c] = referenceHalfToFloat(w.base.loadUnaligned(fromByteOffset: 2 * (j * w.cols + c), as: UInt16.self))
                case .bf16: r[c] = bfloat16ToFloat(w.base.loadUnaligned(fromByteOffset: 2 * (j * w.cols + c), as: UInt16.self))
                case .quantized: break
                }
            }
            if case .quantized(let type) = w.element { dequantizeRow(type, w.base + j * w.rowBytes, r.baseAddress!, count: w.cols) }
        }
        for i in 0..<m {
            var s: Double = 0
            for c in 0..<w.cols { s += Double(a[i * w.cols + c]) * Double(row[c]) }
            out[i * w.rows + j] = Float(s)
        }
    }
}
