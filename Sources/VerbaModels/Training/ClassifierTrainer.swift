// Training a BERT-style text classifier from labelled TSV data (label<TAB>text per line): encoding
// with the model's tokenizer (special tokens as its post-processor adds them, as inference does),
// shuffled padded batches, AdamW with warmup + cosine, evaluation (accuracy, macro-F1), and the export
// as a Hugging Face BertForSequenceClassification folder.
import Foundation
import VerbaSupport
import VerbaTensor
import VerbaTokenizers

/// One labelled example: its token ids (special tokens included) and its label index.
package struct LabelledExample: Sendable {
    public var ids: [Int32]
    public var label: Int
}

/// Reads `label<TAB>text` lines; empty lines are skipped.
/// - Throws: `ModelError.malformed` naming the file and line when a line has no tab or an empty label.
package func readLabelledTSV(path: String) throws -> [(label: String, text: [UInt8])] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ModelError.unreadable(path: path, reason: "no such file or not readable")
    }
    var rows: [(String, [UInt8])] = []
    for (n, line) in [UInt8](data).split(separator: 10, omittingEmptySubsequences: false).enumerated() {
        var l = line
        if l.last == 13 { l = l.dropLast() }
        if l.isEmpty { continue }
        guard let tab = l.firstIndex(of: 9), tab > l.startIndex else {
            throw ModelError.malformed(path: path, reason: "line \(n + 1): expected label<TAB>text")
        }
        rows.append((String(decoding: l[l.startIndex..<tab], as: UTF8.self), Array(l[(tab + 1)...])))
    }
    return rows
}

/// Accuracy and macro-F1 of predictions (label indices) against the truth.
///
/// ```swift
/// let metrics = try run.run { print($0) }.metrics   // run: a ClassifierTrainingRun
/// print("accuracy \(metrics.accuracy), macro-F1 \(metrics.macroF1)")
/// for (k, m) in metrics.perLabel.enumerated() {
///     print("label \(k): precision \(m.precision), recall \(m.recall), F1 \(m.f1), \(m.support) examples")
/// }
/// ```
public struct ClassificationMetrics: Sendable {
    public let accuracy: Double
    /// Mean F1 over the labels that occur in the truth or the predictions.
    public let macroF1: Double
    /// Per label: (precision, recall, F1, support).
    public let perLabel: [(precision: Double, recall: Double, f1: Double, support: Int)]

    package init(truth: [Int], predicted: [Int], labels: Int) {
        precondition(truth.count == predicted.count)
        var tp = [Int](repeating: 0, count: labels), fp = tp, fn = tp
        var correct = 0
        for (t, p) in zip(truth, predicted) {
            if t == p { correct += 1; tp[t] += 1 } else { fp[p] += 1; fn[t] += 1 }
        }
        accuracy = truth.isEmpty ? 0 : Double(correct) / Double(truth.count)
        var rows: [(Double, Double, Double, Int)] = [], sum = 0.0, counted = 0
        for k in 0..<labels {
            let prec = tp[k] + fp[k] > 0 ? Double(tp[k]) / Double(tp[k] + fp[k]) : 0
            let rec = tp[k] + fn[k] > 0 ? Double(tp[k]) / Double(tp[k] + fn[k]) : 0
            let f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0
            rows.append((prec, rec, f1, tp[k] + fn[k]))
            if tp[k] + fp[k] + fn[k] > 0 { sum += f1; counted += 1 }
        }
        perLabel = rows
        macroF1 = counted > 0 ? sum / Double(counted) : 0
    }
}

/// Hyperparameters of a classifier training run.
///
/// ```swift
/// var options = ClassifierTrainingOptions()
/// options.epochs = 4
/// options.maxLength = 128
/// options.headOnly = true   // train only the pooler and the classification layer
/// ```
public struct ClassifierTrainingOptions: Sendable {
    public var epochs = 3
    public var batchSize = 32
    public var learningRate: Float = 5e-4
    /// Fraction of all steps used for linear warmup.
    public var warmupFraction: Float = 0.06
    public var weightDecay: Float = 0.01
    public var clipNorm: Float = 1.0
    /// Longest sequence (tokens, special tokens included); longer ones are cut, keeping the last token.
    public var maxLength = 64
    /// Train only the pooler and the classification layer.
    public var headOnly = false
    public var seed: UInt64 = 1234
    public init() {}
}

/// Trains a `BertTrainingModel` on encoded examples.
package final class ClassifierTrainer {
    public let model: BertTrainingModel
    public let options: ClassifierTrainingOptions
    package let padId: Int32
    /// When set, the state is saved there atomically every `checkpointEvery` steps and at the end of
    /// each epoch; with `resume`, training continues from it (exactly: the shuffles of the steps done
    /// are replayed). `checkpointSignature` must match on resume (the configuration and options).
    package var checkpointPath: String? = nil
    package var checkpointEvery = 100
    package var resume = false
    package var checkpointSignature = ""

    public init(model: BertTrainingModel, options: ClassifierTrainingOptions, padId: Int) {
        self.model = model
        self.options = options
        self.padId = Int32(padId)
    }

    /// Encodes texts with `tokenizer` (special tokens added), cut to `maxLength`.
    public static func encode(_ rows: [(label: String, text: [UInt8])], tokenizer: Tokenizer, labelIndex: [String: Int],
                              maxLength: Int, source: String) throws -> [LabelledExample] {
        var out: [LabelledExample] = []
        out.reserveCapacity(rows.count)
        var ids: [Int] = []
        var scratch = EncodeScratch()
        for (n, row) in rows.enumerated() {
            guard let label = labelIndex[row.label] else {
                throw ModelError.malformed(path: source, reason: "row \(n + 1): label \"\(row.label)\" is not among the training labels")
            }
            ids.removeAll(keepingCapacity: true)
            row.text.withUnsafeBufferPointer { tokenizer.encodeIds(bytes: $0, addSpecialTokens: true, into: &ids, scratch: &scratch) }
            if ids.count > maxLength { ids = Array(ids[0..<(maxLength - 1)]) + [ids[ids.count - 1]] }
            if ids.isEmpty { continue }
            out.append(LabelledExample(ids: ids.map { Int32($0) }, label: label))
        }
        return out
    }

    /// Pads a batch to its longest sequence: (inputs B·T, mask B·T, T).
    func pad(_ batch: ArraySlice<LabelledExample>) -> ([Int32], [Float], Int) {
        let t = batch.map { $0.ids.count }.max() ?? 1
        var inputs: [Int32] = [], mask: [Float] = []
        inputs.reserveCapacity(batch.count * t); mask.reserveCapacity(batch.count * t)
        for e in batch {
            inputs += e.ids; mask += [Float](repeating: 1, count: e.ids.count)
            inputs += [Int32](repeating: padId, count: t - e.ids.count); mask += [Float](repeating: 0, count: t - e.ids.count)
        }
        return (inputs, mask, t)
    }

    /// Predicted label index and its probability for every example (batched by similar length).
    public func predict(_ examples: [LabelledExample]) throws -> [(label: Int, probability: Float)] {
        var result = [(label: Int, probability: Float)](repeating: (0, 0), count: examples.count)
        let order = examples.indices.sorted { examples[$0].ids.count < examples[$1].ids.count }
        let b = options.batchSize, labels = model.config.labels
        var i = 0
        while i < order.count {
            let idx = Array(order[i..<min(i + b, order.count)])
            let (inputs, mask, t) = pad(ArraySlice(idx.map { examples[$0] }))
            try model.forward(inputs: inputs, mask: mask, labels: nil, batch: idx.count, time: t)
            let probs = model.probabilities
            for (r, e) in idx.enumerated() {
                var best = 0
                for k in 1..<labels where probs[r * labels + k] > probs[r * labels + best] { best = k }
                result[e] = (best, probs[r * labels + best])
            }
            i += b
        }
        return result
    }

    /// Evaluates on `examples`.
    public func evaluate(_ examples: [LabelledExample]) throws -> ClassificationMetrics {
        let predictions = try predict(examples)
        return ClassificationMetrics(truth: examples.map(\.label), predicted: predictions.map(\.label), labels: model.config.labels)
    }

    /// Trains for `options.epochs` epochs over shuffled batches; after each epoch, evaluates on `eval`
    /// (when non-empty) and reports through `progress`. Returns the final metrics.
    @discardableResult
    public func train(_ examples: [LabelledExample], eval: [LabelledExample], progress: (String) -> Void) throws -> ClassificationMetrics? {
        guard !examples.isEmpty else { throw ModelError.invalidInput("no training examples") }
        let o = options, b = o.batchSize
        let stepsPerEpoch = (examples.count + b - 1) / b, total = stepsPerEpoch * o.epochs
        let optimizer = AdamW(count: model.parameterCount, slices: model.slices, weightDecay: o.weightDecay,
                              trainable: o.headOnly ? model.headSlices : nil)
        let warmup = max(1, Int(Float(total) * o.warmupFraction))
        var rng = SplitMix64(seed: o.seed)
        var step = 0
        var startStep = 0
        if let path = checkpointPath, resume, FileManager.default.fileExists(atPath: path) {
            startStep = try TrainingCheckpoint.load(model: model, optimizer: optimizer, kind: "bert-classifier",
                                                    configJSON: checkpointSignature, from: path)
            progress("resumed from step \(startStep) (\(path))")
        }
        var metrics: ClassificationMetrics? = nil
        let start = Date()
        for epoch in 1...max(1, o.epochs) {
            // Shuffle, then sort windows of 64 batches by length so batches pad little, and shuffle the batches.
            var order = Array(examples.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(i + 1)) }
            var batches: [[Int]] = []
            for w in stride(from: 0, to: order.count, by: 64 * b) {
                let window = order[w..<min(w + 64 * b, order.count)].sorted { examples[$0].ids.count < examples[$1].ids.count }
                for k in stride(from: 0, to: window.count, by: b) { batches.append(Array(window[(window.startIndex + k)..<min(window.startIndex + k + b, window.endIndex)])) }
            }
            for i in stride(from: batches.count - 1, to: 0, by: -1) { batches.swapAt(i, rng.nextInt(i + 1)) }
            var lossSum = 0.0, seen = 0, tokens = 0
            if step + stepsPerEpoch <= startStep { step += stepsPerEpoch; continue }  // done before the resume
            for s in 0..<stepsPerEpoch {
                if step < startStep { step += 1; continue }
                let batch = batches[s].map { examples[$0] }
                let (inputs, mask, t) = pad(ArraySlice(batch))
                model.zeroGradients()
                let loss = try model.forward(inputs: inputs, mask: mask, labels: batch.map { Int32($0.label) }, batch: batch.count, time: t)
                guard loss.isFinite else { throw ModelError.invalidInput("training diverged at step \(step + 1); lower --lr") }
                model.backward(headOnly: o.headOnly)
                clipGradientNorm(model.gradients, count: model.parameterCount, maxNorm: o.clipNorm)
                optimizer.update(parameters: model.parameters, gradients: model.gradients,
                                 lr: learningRate(step: step, total: total, warmup: warmup, maxLR: o.learningRate, minFraction: 0))
                step += 1
                if let path = checkpointPath, (checkpointEvery > 0 && step % checkpointEvery == 0) || s == stepsPerEpoch - 1 {
                    try TrainingCheckpoint.save(model: model, optimizer: optimizer, step: step, kind: "bert-classifier",
                                                configJSON: checkpointSignature, to: path)
                }
                lossSum += Double(loss) * Double(batch.count); seen += batch.count; tokens += batch.count * t
                if s % 50 == 49 || s == stepsPerEpoch - 1 {
                    let el = Date().timeIntervalSince(start)
                    let done = step - startStep
                    progress("epoch \(epoch)/\(o.epochs) step \(s + 1)/\(stepsPerEpoch) | loss \(String(format: "%.4f", lossSum / Double(seen)))"
                             + " | \(Int(Double(done * b) / el)) examples/s | ETA \(formatDuration(el / Double(done) * Double(total - step)))")
                }
            }
            if !eval.isEmpty {
                let m = try evaluate(eval)
                metrics = m
                progress("epoch \(epoch): eval accuracy \(String(format: "%.4f", m.accuracy)), macro-F1 \(String(format: "%.4f", m.macroF1))")
            }
        }
        return metrics
    }
}

extension BertTrainingModel {
    /// Writes config.json (BertForSequenceClassification, id2label/label2id) and model.safetensors
    /// (HF names) into `folder`.
    public func exportHuggingFace(to folder: String, labels: [String], dtype: DType = .f32, padId: Int = 0) throws {
        precondition(labels.count == config.labels)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var id2label: [String: String] = [:], label2id: [String: Int] = [:]
        for (i, l) in labels.enumerated() { id2label[String(i)] = l; label2id[l] = i }
        let cfg: [String: Any] = [
            "architectures": ["BertForSequenceClassification"], "model_type": "bert",
            "vocab_size": config.vocabSize, "hidden_size": config.dim, "num_hidden_layers": config.layers,
            "num_attention_heads": config.heads, "intermediate_size": config.intermediate, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": config.maxPositions,
            "type_vocab_size": config.typeVocabSize, "initializer_range": 0.02, "layer_norm_eps": Double(config.layerNormEps),
            "pad_token_id": padId, "position_embedding_type": "absolute", "classifier_dropout": NSNull(),
            "id2label": id2label, "label2id": label2id, "problem_type": "single_label_classification",
            "torch_dtype": dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32",
        ]
        let p = parameters
        let tensors = huggingFaceLayout().map { t -> (name: String, tensor: FloatTensor, dtype: DType) in
            (t.name, FloatTensor(shape: t.shape, values: Array(UnsafeBufferPointer(start: p + t.offset, count: t.shape.reduce(1, *)))), dtype)
        }
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/model.safetensors")
        try writeAtomically(Data(try jsonText(cfg).utf8), to: folder + "/config.json")
    }

    /// Loads a BERT folder (BertModel or BertForSequenceClassification weights) as the starting point of
    /// fine-tuning with `labels` classes. The classification head is kept only when the folder's has
    /// the same number of labels; otherwise it starts fresh (seeded).
    public static func loadForFineTuning(folder: String, labels: Int, seed: UInt64) throws -> (BertTrainingModel, keptHead: Bool) {
        let path = folder + "/config.json"
        let c = try ConfigJSON(path: path)
        let act = try c.string("hidden_act", default: "gelu")
        guard act == "gelu" else { throw ModelError.unsupported(path: path, what: "hidden_act \(act) (training supports gelu)") }
        let cfg = BertTrainingConfig(vocabSize: try c.int("vocab_size"), maxPositions: try c.int("max_position_embeddings"),
                                     typeVocabSize: try c.int("type_vocab_size", default: 2), layers: try c.int("num_hidden_layers"),
                                     heads: try c.int("num_attention_heads"), dim: try c.int("hidden_size"),
                                     intermediate: try c.int("intermediate_size"), labels: labels,
                                     layerNormEps: Float(try c.double("layer_norm_eps", default: 1e-12)))
        let model = try BertTrainingModel(config: cfg, seed: seed)
        let weights = folder + "/model.safetensors"
        let file = try SafeTensorsFile(path: weights)
        var headMismatch = false
        if let info = file.tensors["classifier.weight"], info.shape != [labels, cfg.dim] { headMismatch = true }
        let missing = try model.loadHuggingFace(from: weights, optional: ["classifier.weight", "classifier.bias",
                                                                          "bert.pooler.dense.weight", "bert.pooler.dense.bias"]) { name in
            guard file.tensors[name] != nil else { return nil }
            if headMismatch && name.hasPrefix("classifier.") { return nil }
            let t = try file.floats(name)
            return (t.shape, t.toArray())
        }
        let kept = !missing.contains("classifier.weight")
        if !kept { model.resetClassifier(seed: seed) }
        return (model, kept)
    }
}
