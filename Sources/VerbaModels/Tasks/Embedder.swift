// Sentence embeddings with a BERT encoder, as sentence-transformers computes them: token vectors from the
// encoder, pooled (mean over the tokens, or the [CLS] vector, or the maximum), optionally L2-normalised.
// A sentence-transformers folder says which through modules.json, 1_Pooling/config.json and
// sentence_bert_config.json (max_seq_length); a plain BERT folder defaults to mean pooling.
import Foundation
import Synchronization
import VerbaTensor
import VerbaSupport
import VerbaTokenizers

/// How the token vectors of a sentence become one vector.
///
/// ```swift
/// // The folder's own pooling, or [CLS] pooling with unit-length vectors:
/// let byFolder = try Embedder(folder: "downloads/minilm")
/// let cls = try Embedder(folder: "downloads/minilm", pooling: .cls, normalize: true)
/// print(byFolder.pooling, cls.pooling)   // mean cls
/// ```
public enum Pooling: String, Sendable, CaseIterable {
    /// The average of the token vectors (special tokens included, padding excluded).
    case mean
    /// The vector of the first token ([CLS]).
    case cls
    /// The element-wise maximum over the tokens.
    case max
}

/// Turns lines of text into encoder inputs: the tokenizer's fast ids path, and Hugging Face's own
/// truncation (`max_length`, longest first, right side) for the lines that are too long.
package struct TextEncoder: Sendable {
    public let tokenizer: Tokenizer
    /// Longest input in tokens, special tokens included.
    public let maxLength: Int
    private let truncating: Tokenizer

    package init(tokenizer: Tokenizer, maxLength: Int) {
        precondition(maxLength >= 1, "TextEncoder: maxLength must be positive")
        self.tokenizer = tokenizer
        self.maxLength = maxLength
        truncating = tokenizer.with(truncation: TruncationParams(maxLength: maxLength), padding: nil)
    }

    /// Loads the tokenizer of a model folder (tokenizer.json, or vocab.txt...).
    /// - Throws: `ModelError.noTokenizerFiles` when the folder has none, or the tokenizer's own error.
    package static func loadTokenizer(folder: String) throws -> Tokenizer {
        do {
            return try Tokenizer.load(path: folder)
        } catch TokenizerError.noTokenizerFiles(let path) {
            throw ModelError.noTokenizerFiles(path: path)
        }
    }

    /// Inputs for `texts` (UTF-8 bytes, invalid sequences repaired as the tokenizer does), encoded in
    /// parallel on `ThreadPool.shared`; `truncated` lists (index, token count before truncation, or -1
    /// when only a prefix of a very long text was encoded) of every text longer than `maxLength` tokens,
    /// which was cut to `maxLength`.
    package func encode(_ texts: [[UInt8]]) throws -> (inputs: [BertInput], truncated: [(index: Int, tokens: Int)]) {
        var inputs = [BertInput](repeating: BertInput(ids: []), count: texts.count)
        var lengths = [Int](repeating: 0, count: texts.count)
        var failure: Error?
        let lock = NSLock()
        inputs.withUnsafeMutableBufferPointer { out in
            lengths.withUnsafeMutableBufferPointer { lens in
                ThreadPool.shared.parallelChunks(count: texts.count, minimumChunk: 16) { range in
                    var scratch = EncodeScratch()
                    for i in range {
                        var ids: [Int] = []
                        // A very long line: encode only a prefix that already holds more than maxLength
                        // tokens (see `longTextPrefix`), so memory stays bounded by the limit, not the line.
                        var text = texts[i][...]
                        var unknownLength = false
                        if let cut = longTextPrefix(texts[i]) {
                            text.withUnsafeBufferPointer { all in
                                tokenizer.encodeIds(bytes: UnsafeBufferPointer(rebasing: all[0..<cut]), addSpecialTokens: true, into: &ids, scratch: &scratch)
                            }
                            if ids.count > maxLength { text = texts[i][0..<cut]; unknownLength = true }
                            ids.removeAll(keepingCapacity: true)
                        }
                        text.withUnsafeBufferPointer {
                            tokenizer.encodeIds(bytes: $0, addSpecialTokens: true, into: &ids, scratch: &scratch)
                        }
                        lens[i] = unknownLength ? -1 : ids.count
                        if ids.count > maxLength {
                            do {
                                ids = try truncating.encode(bytes: Array(text)).ids
                            } catch {
                                lock.lock(); if failure == nil { failure = error }; lock.unlock()
                            }
                        }
                        out[i] = BertInput(ids: ids)
                    }
                }
            }
        }
        if let failure { throw failure }
        var truncated: [(index: Int, tokens: Int)] = []
        for (i, n) in lengths.enumerated() where n > maxLength || n < 0 { truncated.append((i, n)) }
        return (inputs, truncated)
    }

    /// For a text over `max(4096, 32 · maxLength)` bytes, the end of a prefix that stops just before an
    /// ASCII whitespace byte (nil for shorter texts, or when there is no whitespace after that point).
    /// Tokens never span whitespace and normalization does not cross it, so such a prefix encodes to
    /// the text's first tokens; when it already has more than `maxLength` tokens, truncating it gives
    /// exactly what truncating the whole text gives.
    func longTextPrefix(_ text: [UInt8]) -> Int? {
        let limit = Swift.max(4096, 32 * maxLength)
        guard text.count > limit else { return nil }
        var i = limit
        while i < text.count {
            let b = text[i]
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { return i }
            i += 1
        }
        return nil
    }
}

/// What a sentence-transformers folder says about its pipeline (modules.json and the module configs).
package struct SentenceTransformerLayout: Sendable, Equatable {
    /// Folder holding config.json and the weights (the Transformer module's path).
    package var modelFolder: String
    package var pooling: Pooling
    package var normalize: Bool
    /// `max_seq_length` from sentence_bert_config.json, nil when absent.
    package var maxSequenceLength: Int?

    /// Reads `folder`: with modules.json, follows it (Transformer, Pooling, Normalize modules; any other
    /// module is unsupported); without, mean pooling and no normalisation.
    public init(folder: String) throws {
        func join(_ a: String, _ b: String) -> String { b.isEmpty ? a : (a as NSString).appendingPathComponent(b) }
        modelFolder = folder
        pooling = .mean
        normalize = false
        maxSequenceLength = nil
        let modulesPath = join(folder, "modules.json")
        guard FileManager.default.fileExists(atPath: modulesPath) else {
            maxSequenceLength = try SentenceTransformerLayout.maxSeqLength(in: folder)
            return
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: modulesPath)) } catch {
            throw ModelError.unreadable(path: modulesPath, reason: error.localizedDescription)
        }
        let parsed: JSONValue
        do { parsed = try parseJSON(Array(data)) } catch let error as JSONParseError {
            throw ModelError.malformed(path: modulesPath, reason: error.message)
        }
        guard let items = parsed.arrayValue else {
            throw ModelError.malformed(path: modulesPath, reason: "expected a JSON array of module objects")
        }
        let modules = try items.map { item -> [(String, JSONValue)] in
            guard let members = item.objectValue else {
                throw ModelError.malformed(path: modulesPath, reason: "expected a JSON array of module objects")
            }
            return members
        }
        for (i, module) in modules.enumerated() {
            let m = ConfigJSON(path: modulesPath, members: module)
            let type = try m.string("type")
            let path = try m.string("path", default: "")
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw ModelError.badConfigValue(path: modulesPath, field: "path", reason: "module \(i): path must stay inside the folder")
            }
            switch type.split(separator: ".").last.map(String.init) ?? type {
            case "Transformer":
                modelFolder = join(folder, path)
                maxSequenceLength = try SentenceTransformerLayout.maxSeqLength(in: modelFolder)
            case "Pooling":
                let config = try ConfigJSON(path: join(join(folder, path), "config.json"))
                var modes: [Pooling] = []
                if try config.bool("pooling_mode_cls_token", default: false) { modes.append(.cls) }
                if try config.bool("pooling_mode_mean_tokens", default: false) { modes.append(.mean) }
                if try config.bool("pooling_mode_max_tokens", default: false) { modes.append(.max) }
                for other in ["pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]
                    where try config.bool(other, default: false) {
                    throw ModelError.unsupported(path: config.path, what: other)
                }
                guard modes.count == 1 else {
                    throw ModelError.unsupported(path: config.path, what: "pooling with \(modes.count) modes (need exactly one of cls, mean, max)")
                }
                pooling = modes[0]
            case "Normalize":
                normalize = true
            default:
                throw ModelError.unsupported(path: modulesPath, what: "module \(type)")
            }
        }
    }

    private static func maxSeqLength(in folder: String) throws -> Int? {
        let path = (folder as NSString).appendingPathComponent("sentence_bert_config.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let config = try ConfigJSON(path: path)
        guard let n = try config.optionalInt("max_seq_length") else { return nil }
        guard n >= 1 else { throw ModelError.badConfigValue(path: path, field: "max_seq_length", reason: "must be positive") }
        return n
    }
}

/// Work done by an `Embedder` so far (for `--stats` and benchmarks).
///
/// ```swift
/// _ = try embedder.embed(["one", "two"])
/// print(embedder.statistics.texts, embedder.statistics.tokens)
/// ```
public struct EmbedStatistics: Sendable {
    /// Texts embedded.
    public var texts = 0
    /// Tokens run through the encoder (after truncation).
    public var tokens = 0
    /// Floating-point operations of the encoder (`BertModel.flops`).
    public var flops = 0.0
    /// Wall-clock seconds spent tokenizing.
    public var tokenizeSeconds = 0.0
    /// Wall-clock seconds in the encoder and pooling.
    public var encodeSeconds = 0.0
}

/// Sentence embeddings: `embed(["a text"])` gives one vector of `dimension` floats per text.
///
/// ```swift
/// let embedder = try Embedder(folder: "downloads/minilm")          // mean pooling + L2, 256 tokens
/// let vectors = try embedder.embed(["A man is eating food.", "A man eats."])
/// ```
///
/// Calls may run at once from several threads or tasks: the settings and totals below sit behind a mutex.
public final class Embedder: Sendable {
    /// The BERT encoder.
    public let model: BertModel
    /// The tokenizer and the length texts are truncated to.
    package let encoder: TextEncoder
    /// How token vectors become one vector per text.
    public let pooling: Pooling
    /// Whether vectors are scaled to unit length.
    public let normalize: Bool
    /// The mutable state: the batch size and the totals.
    private let state = Mutex<(batchSize: Int, statistics: EmbedStatistics)>((32, EmbedStatistics()))
    /// Sequences per forward pass (after sorting by length).
    public var batchSize: Int {
        get { state.withLock { $0.batchSize } }
        set { state.withLock { $0.batchSize = newValue } }
    }
    /// Totals over every call so far.
    public var statistics: EmbedStatistics { state.withLock { $0.statistics } }

    /// Width of the vectors (the model's hidden size).
    public var dimension: Int { model.config.hiddenSize }

    /// Loads a BERT (or sentence-transformers) folder. `pooling`, `normalize` and `maxLength` override
    /// what the folder says; the default length limit is sentence_bert_config.json's `max_seq_length`,
    /// else the model's positions. A `maxLength` above the model's positions is an error.
    /// A GGUF file (llama.cpp's `bert` architecture) is read too: its pooling type, its vocabulary, and
    /// normalized vectors unless `normalize` says otherwise (as llama.cpp's embedding tools do).
    public convenience init(folder: String, pooling: Pooling? = nil, normalize: Bool? = nil, maxLength: Int? = nil) throws {
        if isGGUFFile(folder) {
            let (model, recorded) = try loadBert(gguf: folder)
            try self.init(model: model, tokenizer: try TextEncoder.loadTokenizer(folder: folder), pooling: pooling ?? recorded ?? .mean,
                          normalize: normalize ?? true, maxLength: maxLength)
            return
        }
        let layout = try SentenceTransformerLayout(folder: folder)
        let model = try BertModel(folder: layout.modelFolder)
        let tokenizer = try TextEncoder.loadTokenizer(folder: layout.modelFolder)
        try self.init(model: model, tokenizer: tokenizer, pooling: pooling ?? layout.pooling,
                      normalize: normalize ?? layout.normalize, maxLength: maxLength ?? layout.maxSequenceLength)
    }

    /// An embedder over an already loaded model and tokenizer.
    public init(model: BertModel, tokenizer: Tokenizer, pooling: Pooling = .mean, normalize: Bool = false, maxLength: Int? = nil) throws {
        let positions = model.config.maxPositions
        let limit = min(maxLength ?? positions, positions)
        if let maxLength, maxLength > positions {
            throw ModelError.invalidInput("max length \(maxLength) is more than the model's \(positions) positions")
        }
        guard limit >= 2 else { throw ModelError.invalidInput("max length \(limit) leaves no room for text") }
        self.model = model
        self.encoder = TextEncoder(tokenizer: tokenizer, maxLength: limit)
        self.pooling = pooling
        self.normalize = normalize
    }

    /// Embeddings of `texts`, in input order.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        let result = try embed(bytes: texts.map { Array($0.utf8) })
        let c = dimension
        return (0..<texts.count).map { Array(UnsafeBufferPointer(start: result.vectors.pointer + $0 * c, count: c)) }
    }

    /// Embeddings of UTF-8 texts as one (n, C) tensor in input order, and the texts that were truncated
    /// (index, tokens before truncation).
    public func embed(bytes texts: [[UInt8]]) throws -> (vectors: FloatTensor, truncated: [(index: Int, tokens: Int)]) {
        let start = DispatchTime.now().uptimeNanoseconds
        let (inputs, truncated) = try encoder.encode(texts)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        state.withLock { $0.statistics.tokenizeSeconds += seconds }
        return (try embed(inputs: inputs), truncated)
    }

    /// Embeddings of tokenized inputs (special tokens included), as one (n, C) tensor in input order.
    /// - Complexity: one encoder pass over Σ T tokens (see `BertModel`); batches sorted by length.
    public func embed(inputs: [BertInput]) throws -> FloatTensor {
        for (i, input) in inputs.enumerated() { try model.validate(input, index: i) }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let tokens = inputs.reduce(0) { $0 + $1.ids.count }, flops = model.flops(lengths: inputs.map(\.ids.count))
            state.withLock {
                $0.statistics.encodeSeconds += seconds
                $0.statistics.texts += inputs.count
                $0.statistics.tokens += tokens
                $0.statistics.flops += flops
            }
        }
        let c = dimension
        let out = FloatTensor(shape: [inputs.count, c])
        let pooling = self.pooling, normalize = self.normalize
        // CLS pooling reads only the first token: the last layer computes only that row.
        let firstOnly = pooling == .cls && inputs.allSatisfy { !$0.ids.isEmpty && $0.attentionMask == nil }
        model.runSorted(inputs, batchSize: batchSize, firstTokenOnly: firstOnly) { i, rows in
            Embedder.pool(rows, count: inputs[i].ids.count, mask: inputs[i].attentionMask, c: c,
                          pooling: pooling, normalize: normalize, into: out.pointer + i * c)
        }
        return out
    }

    /// Pools (T, C) token vectors `rows` into `out` (C), as sentence-transformers' Pooling and Normalize do:
    /// mean = Σ masked rows / max(count, 1e-9); L2: v / max(‖v‖, 1e-12).
    static func pool(_ rows: UnsafePointer<Float>, count t: Int, mask: [Int]?, c: Int, pooling: Pooling,
                     normalize: Bool, into out: UnsafeMutablePointer<Float>) {
        switch pooling {
        case .cls:
            if t > 0 { out.update(from: rows, count: c) } else { out.update(repeating: 0, count: c) }
        case .mean:
            var sum = [Double](repeating: 0, count: c)
            var n = 0
            for r in 0..<t where mask.map({ $0[r] != 0 }) ?? true {
                let row = rows + r * c
                for j in 0..<c { sum[j] += Double(row[j]) }
                n += 1
            }
            let denominator = Swift.max(Double(n), 1e-9)
            for j in 0..<c { out[j] = Float(sum[j] / denominator) }
        case .max:
            var any = false
            for r in 0..<t where mask.map({ $0[r] != 0 }) ?? true {
                let row = rows + r * c
                if !any { out.update(from: row, count: c); any = true; continue }
                for j in 0..<c { out[j] = Swift.max(out[j], row[j]) }
            }
            if !any { out.update(repeating: 0, count: c) }
        }
        if normalize {
            var sq: Double = 0
            for j in 0..<c { sq += Double(out[j]) * Double(out[j]) }
            let scale = Float(1 / Swift.max(sq.squareRoot(), 1e-12))
            for j in 0..<c { out[j] *= scale }
        }
    }
}
