// The tokenized training corpus on disk, and its split into training and validation windows.
//
// File layout (little-endian): "VTOK", UInt32 version (1), UInt32 bytes per token (2 or 4),
// UInt32 vocabulary size, UInt64 token count, then the tokens (UInt16 when the vocabulary fits, else UInt32).
import CVerbaSupport
import Foundation
import VerbaSupport

/// A tokenized corpus: the ids of every document, concatenated (documents end with an end-of-text id
/// when the tokenizer has one).
package struct TokenFile: Sendable {
    /// The token ids.
    public let tokens: [Int32]
    /// The vocabulary size the ids were produced with (every id is below it).
    public let vocabSize: Int

    public init(tokens: [Int32], vocabSize: Int) {
        self.tokens = tokens
        self.vocabSize = vocabSize
    }

    private static let magic: [UInt8] = Array("VTOK".utf8)

    /// Writes the file atomically (temporary file + rename): a killed run never leaves half a file.
    public func write(to path: String) throws {
        let wide = vocabSize > 65_536
        var data = Data(capacity: 24 + tokens.count * (wide ? 4 : 2))
        data.append(contentsOf: TokenFile.magic)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        put(UInt32(1)); put(UInt32(wide ? 4 : 2)); put(UInt32(vocabSize)); put(UInt64(tokens.count))
        if wide {
            tokens.withUnsafeBytes { data.append(contentsOf: $0) }
        } else {
            let narrow = tokens.map { UInt16(truncatingIfNeeded: $0).littleEndian }
            narrow.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        try writeAtomically(data, to: path)
    }

    /// Reads and validates a token file.
    public static func read(path: String) throws -> TokenFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.unreadable(path: path, reason: "no such file or not readable")
        }
        guard data.count >= 24, Array(data.prefix(4)) == magic else {
            throw ModelError.malformed(path: path, reason: "not a verba token file (no VTOK header)")
        }
        return try data.withUnsafeBytes { raw -> TokenFile in
            let version = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
            let width = Int(raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
            let vocab = Int(raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
            let claimed = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian
            guard version == 1, width == 2 || width == 4, vocab > 0 else {
                throw ModelError.malformed(path: path, reason: "unsupported token file version \(version) / width \(width)")
            }
            // The count is checked against the file's size before it sizes anything (no overflow).
            guard claimed == UInt64(data.count - 24) / UInt64(width), (data.count - 24) % width == 0 else {
                throw ModelError.malformed(path: path, reason: "truncated: header says \(claimed) tokens, file has \(data.count) bytes")
            }
            let count = Int(claimed)
            var tokens = [Int32](repeating: 0, count: count)
            for i in 0..<count {
                let v = width == 2 ? Int32(raw.loadUnaligned(fromByteOffset: 24 + 2 * i, as: UInt16.self).littleEndian)
                                   : Int32(bitPattern: raw.loadUnaligned(fromByteOffset: 24 + 4 * i, as: UInt32.self).littleEndian)
                guard v >= 0, Int(v) < vocab else {
                    throw ModelError.malformed(path: path, reason: "token \(i) is \(v), outside the vocabulary (\(vocab))")
                }
                tokens[i] = v
            }
            return TokenFile(tokens: tokens, vocabSize: vocab)
        }
    }
}

/// Writes `data` to `path` atomically (see `writeFileAtomically`), failing with a `ModelError`.
func writeAtomically(_ data: Data, to path: String) throws {
    var failure: AtomicWriteError?
    data.withUnsafeBytes { raw in
        do throws(AtomicWriteError) { try writeFileAtomically(raw, to: path) } catch { failure = error }
    }
    if let failure { throw ModelError.unwritable(path: path, reason: failure.reason) }
}

/// The corpus cut into blocks, every `validationEvery`-th of which is held out for validation; batches
/// of (T + 1)-token windows are drawn from the training blocks, reproducibly from (seed, step).
package struct TokenSplit: Sendable {
    /// Token ranges used for training and held out for validation.
    package let train: [Range<Int>]
    package let validation: [Range<Int>]
    /// Window length T (each window has T inputs and T shifted targets).
    package let time: Int

    /// - Parameters:
    ///   - blockSize: tokens per block (at least T + 1).
    ///   - validationEvery: hold out block k when k % validationEvery == validationEvery − 1 (0: none).
    package init(count: Int, time: Int, blockSize: Int, validationEvery: Int) throws {
        self.time = time
        let block = max(blockSize, time + 1)
        var train: [Range<Int>] = [], validation: [Range<Int>] = []
        var k = 0, start = 0
        while start < count {
            let end = min(count, start + block)
            if end - start >= time + 1 {
                if validationEvery > 0 && k % validationEvery == validationEvery - 1 {
                    validation.append(start..<end)
                } else {
                    train.append(start..<end)
                }
            }
            start = end
            k += 1
        }
        guard !train.isEmpty else {
            throw ModelError.invalidInput("corpus too small: \(count) tokens give no training window of \(time + 1) tokens")
        }
        self.train = train
        self.validation = validation
    }

    /// Number of training tokens.
    public var trainTokens: Int { train.reduce(0) { $0 + $1.count } }
    /// Number of validation tokens.
    public var validationTokens: Int { validation.reduce(0) { $0 + $1.count } }

    /// Fills `inputs` and `targets` (B·T each) with B random training windows for (seed, step, micro).
    package func trainBatch(tokens: [Int32], batch: Int, seed: UInt64, step: Int, micro: Int,
                           inputs: inout [Int32], targets: inout [Int32]) {
        var rng = SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(step) &* 1_000_003 &+ UInt64(micro))
        _ = rng.next()
        inputs.removeAll(keepingCapacity: true)
        targets.removeAll(keepingCapacity: true)
        let weights = train.map { $0.count - time }   // number of window starts per block
        let total = weights.reduce(0, +)
        for _ in 0..<batch {
            var r = rng.nextInt(total), blockIndex = 0
            while r >= weights[blockIndex] { r -= weights[blockIndex]; blockIndex += 1 }
            let start = train[blockIndex].lowerBound + r
            inputs.append(contentsOf: tokens[start..<(start + time)])
            targets.append(contentsOf: tokens[(start + 1)..<(start + time + 1)])
        }
    }

    /// The held-out windows: consecutive non-overlapping (T + 1)-token windows of every validation
    /// block (at most `limit`, spread evenly when there are more), as start offsets.
    package func validationWindows(limit: Int? = nil) -> [Int] {
        var starts: [Int] = []
        for r in validation {
            var s = r.lowerBound
            while s + time + 1 <= r.upperBound { starts.append(s); s += time }
        }
        if let limit = limit, starts.count > limit, limit > 0 {
            let stride = Double(starts.count) / Double(limit)
            starts = (0..<limit).map { starts[Int(Double($0) * stride)] }
        }
        return starts
    }
}
