// Text classification with a BERT encoder:
//   - SequenceClassifier: Hugging Face BertForSequenceClassification, logits = Wc · pooler(h[CLS]) + bc,
//     scores = softmax(logits), or sigmoid(logits) per label when problem_type is
//     "multi_label_classification"; class names from config.json's id2label.
//   - ZeroShotClassifier: no trained head; each label name is embedded like a sentence, and a text's
//     scores are softmax(scale · cos(text, label)) over the labels (see `ZeroShotClassifier.scale`).
import Foundation
import Synchronization
import VerbaTensor
import VerbaTokenizers

/// The classification of one text.
///
/// ```swift
/// let result = try classifier.classify(["Great film"])[0]
/// print(classifier.labels[result.best], result.scores)
/// ```
public struct ClassificationResult: Sendable, Equatable {
    /// Raw scores: the head's logits, or for zero-shot the cosine similarities.
    public var logits: [Float]
    /// Probabilities per label (softmax over labels, or independent sigmoids for multi-label models).
    public var scores: [Float]
    /// The index of the highest score (the first one on ties).
    public var best: Int

    package init(logits: [Float], scores: [Float]) {
        self.logits = logits
        self.scores = scores
        var b = 0
        for (i, s) in scores.enumerated() where s > scores[b] { b = i }
        best = scores.isEmpty ? -1 : b
    }
}

/// softmax(x) computed in Double, max-subtracted.
func softmaxDouble(_ x: [Float], scale: Double = 1) -> [Float] {
    guard let m = x.max() else { return [] }
    let e = x.map { Foundation.exp((Double($0) - Double(m)) * scale) }
    let sum = e.reduce(0, +)
    return e.map { Float($0 / sum) }
}

/// Hugging Face `BertForSequenceClassification`: a BERT encoder, its pooler, and a linear head.
///
/// ```swift
/// let classifier = try SequenceClassifier(folder: "models/sentiment")
/// for result in try classifier.classify(["I loved it", "Dreadful"]) {
///     print(classifier.labels[result.best], result.scores[result.best])
/// }
/// ```
/// Calls may run at once from several threads (the batch size sits behind a mutex).
public final class SequenceClassifier: Sendable {
    /// The BERT encoder with its pooler.
    public let model: BertModel
    /// The tokenizer and the length texts are truncated to.
    package let encoder: TextEncoder
    /// Class names by id (config.json `id2label`; `LABEL_i` when only `num_labels` is given).
    public let labels: [String]
    /// Independent sigmoid per label instead of a softmax (`problem_type` multi_label_classification).
    public let multiLabel: Bool
    private let batch = Mutex(32)
    /// Sequences per forward pass (after sorting by length).
    public var batchSize: Int {
        get { batch.withLock { $0 } }
        set { batch.withLock { $0 = newValue } }
    }
    private let weight: FloatTensor, bias: FloatTensor     // (L, C), (L)

    /// Loads a classification folder: config.json (with id2label or num_labels), safetensors weights with
    /// `classifier.weight`/`classifier.bias` and the pooler, and tokenizer files. Texts are truncated to
    /// `maxLength` tokens (default: the model's positions).
    public init(folder: String, maxLength: Int? = nil) throws {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let config = try BertConfig(path: configPath)
        guard !config.labels.isEmpty else { throw ModelError.missingConfigField(path: configPath, field: "id2label") }
        let weights = try ModelWeights(folder: folder)
        model = try BertModel(config: config, weights: weights)
        guard model.hasPooler else { throw ModelError.missingTensor(path: weights.path, name: "bert.pooler.dense.weight") }
        let c = config.hiddenSize
        weight = try weights.tensor("classifier.weight", shape: [config.labels.count, c])
        bias = try weights.tensor("classifier.bias", shape: [config.labels.count])
        labels = config.labels
        multiLabel = config.multiLabel
        let tokenizer = try TextEncoder.loadTokenizer(folder: folder)
        if let maxLength, maxLength > config.maxPositions {
            throw ModelError.invalidInput("max length \(maxLength) is more than the model's \(config.maxPositions) positions")
        }
        let limit = maxLength ?? config.maxPositions
        guard limit >= 2 else { throw ModelError.invalidInput("max length \(limit) leaves no room for text") }
        encoder = TextEncoder(tokenizer: tokenizer, maxLength: limit)
    }

    /// Classifies each text; results in input order.
    public func classify(_ texts: [String]) throws -> [ClassificationResult] {
        try classify(bytes: texts.map { Array($0.utf8) }).results
    }

    /// Classifies UTF-8 texts; also returns the texts that were truncated (index, tokens before).
    public func classify(bytes texts: [[UInt8]]) throws -> (results: [ClassificationResult], truncated: [(index: Int, tokens: Int)]) {
        let (inputs, truncated) = try encoder.encode(texts)
        return (try classify(inputs: inputs), truncated)
    }

    /// Classifies tokenized inputs (special tokens included; none may be empty).
    /// - Complexity: one encoder pass, plus C² + L·C per text for the pooler and head.
    public func classify(inputs: [BertInput]) throws -> [ClassificationResult] {
        for (i, input) in inputs.enumerated() {
            try model.validate(input, index: i)
            if input.ids.isEmpty { throw ModelError.invalidInput("input \(i): no tokens") }
        }
        let c = model.config.hiddenSize, l = labels.count
        var results = [ClassificationResult](repeating: ClassificationResult(logits: [], scores: []), count: inputs.count)
        results.withUnsafeMutableBufferPointer { out in
            model.runSorted(inputs, batchSize: batchSize, firstTokenOnly: true) { i, rows in
                var pooled = [Float](repeating: 0, count: c)
                pooled.withUnsafeMutableBufferPointer { model.pool(rows, into: $0.baseAddress!) }
                var logits = [Float](repeating: 0, count: l)
                for k in 0..<l {
                    var s: Float = 0
                    let w = weight.pointer + k * c
                    for j in 0..<c { s += w[j] * pooled[j] }
                    logits[k] = s + bias.pointer[k]
                }
                let scores = multiLabel ? logits.map { 1 / (1 + expf(-$0)) } : softmaxDouble(logits)
                out[i] = ClassificationResult(logits: logits, scores: scores)
            }
        }
        return results
    }
}

/// Zero-shot classification by embedding similarity: each label name is embedded like a sentence; a
/// text's raw scores are the cosine similarities cos(text, label), and its probabilities
/// softmax(scale · cos) over the labels.
///
/// `scale` defaults to 20, the similarity scale sentence-transformers models such as all-MiniLM-L6-v2
/// are trained with (MultipleNegativesRankingLoss: cross-entropy over 20 · cosine), so the probabilities
/// are the model's own in-batch retrieval probabilities; a temperature of 1/20 = 0.05.
///
/// ```swift
/// let zeroShot = try ZeroShotClassifier(embedder: try Embedder(folder: "downloads/minilm"),
///                                       labels: ["sport", "politics", "cooking"])
/// let result = try zeroShot.classify(["The striker scored twice"])[0]
/// print(zeroShot.labels[result.best])
/// ```
public final class ZeroShotClassifier: Sendable {
    /// The sentence embedder that embeds texts and label names.
    public let embedder: Embedder
    /// The label names, in score order.
    public let labels: [String]
    /// Multiplies the cosines before the softmax (1 / temperature).
    public let scale: Float
    private let labelVectors: [[Float]]    // unit vectors, (L, C)

    /// Embeds every label name once; `scale` multiplies the cosines before the softmax.
    public init(embedder: Embedder, labels: [String], scale: Float = 20) throws {
        guard !labels.isEmpty else { throw ModelError.invalidInput("zero-shot classification needs at least one label") }
        guard scale.isFinite, scale > 0 else { throw ModelError.invalidInput("similarity scale must be positive") }
        self.embedder = embedder
        self.labels = labels
        self.scale = scale
        labelVectors = try embedder.embed(labels).map(ZeroShotClassifier.unit)
    }

    static func unit(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let s = Float(1 / max(norm, 1e-12))
        return v.map { $0 * s }
    }

    /// Classifies each text; results in input order.
    public func classify(_ texts: [String]) throws -> [ClassificationResult] {
        try classify(bytes: texts.map { Array($0.utf8) }).results
    }

    /// Classifies UTF-8 texts; also returns the texts that were truncated (index, tokens before).
    /// - Complexity: one embedding per text, plus L·C per text.
    public func classify(bytes texts: [[UInt8]]) throws -> (results: [ClassificationResult], truncated: [(index: Int, tokens: Int)]) {
        let (vectors, truncated) = try embedder.embed(bytes: texts)
        let c = embedder.dimension
        var results: [ClassificationResult] = []
        results.reserveCapacity(texts.count)
        for i in 0..<texts.count {
            let v = ZeroShotClassifier.unit(Array(UnsafeBufferPointer(start: vectors.pointer + i * c, count: c)))
            let cosines = labelVectors.map { l -> Float in
                var s: Float = 0
                for j in 0..<c { s += l[j] * v[j] }
                return s
            }
            results.append(ClassificationResult(logits: cosines, scores: softmaxDouble(cosines, scale: Double(scale))))
        }
        return (results, truncated)
    }
}
