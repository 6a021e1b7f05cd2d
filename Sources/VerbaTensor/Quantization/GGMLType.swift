/// A tensor element type of ggml (the numeric ids GGUF files store), with the block layout of each.
///
/// Quantized types pack `blockSize` consecutive values of a row into `bytesPerBlock` bytes; a row's
/// length must be a multiple of the block size. The ids are ggml's (`enum ggml_type`), so a GGUF tensor's
/// type field maps straight onto a case.
package enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case bf16 = 30

    /// Values per block (1 for the plain float types).
    package var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: return 256
        }
    }

    /// Bytes of one block.
    package var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 2 + 16                 // f16 scale, 32 nibbles
        case .q4_1: return 2 + 2 + 16             // f16 scale and minimum, 32 nibbles
        case .q5_0: return 2 + 4 + 16             // f16 scale, 32 high bits, 32 nibbles
        case .q5_1: return 2 + 2 + 4 + 16         // f16 scale and minimum, high bits, nibbles
        case .q8_0: return 2 + 32                 // f16 scale, 32 int8
        case .q8_1: return 2 + 2 + 32             // f16 scale, f16 scale × sum, 32 int8
        case .q2_K: return 16 + 64 + 2 + 2        // 4-bit scales and mins, 2-bit quants, f16 d, dmin
        case .q3_K: return 32 + 64 + 12 + 2       // high bits, 2-bit quants, 6-bit scales, f16 d
        case .q4_K: return 2 + 2 + 12 + 128       // f16 d, dmin, 6-bit scales and mins, nibbles
        case .q5_K: return 2 + 2 + 12 + 32 + 128  // as Q4_K plus 256 high bits
        case .q6_K: return 128 + 64 + 16 + 2      // low nibbles, high 2 bits, int8 scales, f16 d
        case .q8_K: return 4 + 256 + 32          // f32 d, 256 int8, 16 int16 block sums
        }
    }

    /// True for the types made of blocks of several values.
    package var isQuantized: Bool { blockSize > 1 }

    /// Bytes of a row of `columns` values; `columns` must be a multiple of `blockSize`.
    package func rowBytes(columns: Int) -> Int {
        precondition(columns >= 0 && columns % blockSize == 0,
                     "\(self): \(columns) columns is not a multiple of the block size \(blockSize)")
        return columns / blockSize * bytesPerBlock
    }

    /// ggml's name of the type (`"q4_K"`, `"f16"`, ...), as llama.cpp prints it.
    package var name: String {
        switch self {
        case .f32: return "f32"
        case .f16: return "f16"
        case .q4_0: return "q4_0"
        case .q4_1: return "q4_1"
        case .q5_0: return "q5_0"
        case .q5_1: return "q5_1"
        case .q8_0: return "q8_0"
        case .q8_1: return "q8_1"
        case .q2_K: return "q2_K"
        case .q3_K: return "q3_K"
        case .q4_K: return "q4_K"
        case .q5_K: return "q5_K"
        case .q6_K: return "q6_K"
        case .q8_K: return "q8_K"
        case .bf16: return "bf16"
        }
    }

    package var description: String { name }

    /// True for the types `dequantizeRow` and `quantizeRow` handle (and the quantized GEMV reads).
    package var isSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K: return true
        case .q8_1, .q2_K, .q3_K, .q8_K: return false
        }
    }
}
