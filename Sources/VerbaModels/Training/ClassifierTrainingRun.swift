// Training a BERT-style text classifier from TSV files end to end (what `verba train classifier`
// runs): labels from the training file, a base model fine-tuned or a small one made from scratch,
// examples encoded and checked against the model's vocabulary, training with evaluation, and a Hugging
// Face BertForSequenceClassification folder written.

import Foundation
import VerbaTensor
import VerbaTokenizers

/// Where a classifier training run starts.
///
/// ```swift
/// let fineTune = ClassifierStart.fineTune(base: "downloads/minilm")
/// let small = ClassifierStart.fromScratch(layers: 2, heads: 4, dim: 128, intermediate: nil)   // 512 inner
/// let run = ClassifierTrainingRun(start: small, tokenizerPath: "downloads/minilm", trainPath: "train.tsv",
///                                 evalPath: "dev.tsv", options: ClassifierTrainingOptions(),
///                                 outputFolder: "models/small-classifier")
/// ```
public enum ClassifierStart: Sendable {
    /// Fine-tune the BERT model in this folder (config.json, model.safetensors).
    case fineTune(base: String)
    /// A new model of these sizes (`intermediate` nil: 4 × dim); its positions are the run's
    /// `options.maxLength`.
    case fromScratch(layers: Int, heads: Int, dim: Int, intermediate: Int?)
}

/// What a classifier training run learned and how it scores on the evaluation data.
///
/// ```swift
/// let result = try run.run { print($0) }   // run: a ClassifierTrainingRun
/// print("labels: \(result.labels.joined(separator: ", "))")
/// print("accuracy \(result.metrics.accuracy), macro-F1 \(result.metrics.macroF1)")
/// print("\(result.trainExamples) training examples, \(result.evalExamples) evaluated")
/// ```
public struct ClassifierTrainingResult {
    /// Labels of the training data, sorted: label k is output k of the model.
    public var labels: [String]
    /// Metrics on the evaluation data after the last epoch.
    public var metrics: ClassificationMetrics
    /// Examples used for training and evaluation (rows that encode to nothing are left out).
    public var trainExamples: Int
    public var evalExamples: Int
}

extension Tokenizer {
    /// The id padding uses: that of "[PAD]" or "<pad>" when the vocabulary has one, else 0.
    public var paddingId: Int { tokenToId("[PAD]") ?? tokenToId("<pad>") ?? 0 }
}

/// A text classifier trained on labelled TSV files and written as a Hugging Face folder.
///
/// TRAIN and EVAL hold one example a line, `label<TAB>text`; the labels are those of TRAIN (sorted).
/// Texts are encoded as inference encodes them (special tokens added) and cut to `options.maxLength`.
/// The output folder gets config.json (with id2label / label2id), model.safetensors, tokenizer.json and,
/// when the tokenizer came from a vocab.txt, vocab.txt.
///
/// ```swift
/// var options = ClassifierTrainingOptions()
/// options.epochs = 2
/// let run = ClassifierTrainingRun(start: .fineTune(base: "downloads/minilm"), tokenizerPath: "downloads/minilm",
///                                 trainPath: "train.tsv", evalPath: "dev.tsv", options: options,
///                                 outputFolder: "models/my-classifier")
/// let result = try run.run { print($0) }
/// print(result.metrics.accuracy)
/// ```
public struct ClassifierTrainingRun {
    public var start: ClassifierStart
    /// Tokenizer file or folder (for fine-tuning, usually the base folder).
    public var tokenizerPath: String
    public var trainPath: String
    public var evalPath: String
    public var options: ClassifierTrainingOptions
    public var outputFolder: String
    /// Type of the exported weights.
    public var dtype: DType
    /// Threads for training (default all cores).
    public var threads: Int
    /// Folder for the checkpoint (`checkpoint.safetensors`), saved atomically every `checkpointEvery`
    /// steps and at the end of each epoch; nil: no checkpoints.
    public var workFolder: String?
    public var checkpointEvery = 100
    /// Continue from the checkpoint in `workFolder` (same data and options); the run then ends with the
    /// same model an uninterrupted one writes.
    public var resume = false

    public init(start: ClassifierStart, tokenizerPath: String, trainPath: String, evalPath: String,
                options: ClassifierTrainingOptions, outputFolder: String, dtype: DType = .f32, threads: Int? = nil) {
        self.start = start
        self.tokenizerPath = tokenizerPath
        self.trainPath = trainPath
        self.evalPath = evalPath
        self.options = options
        self.outputFolder = outputFolder
        self.dtype = dtype
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Trains, evaluates and writes the model folder; progress lines go to `progress`.
    /// - Throws: `ModelError` for unreadable or malformed files (fewer than 2 labels, an evaluation
    ///   label not in the training data, token ids outside the model's vocabulary), `TokenizerError`
    ///   for the tokenizer, and unwritable output.
    public func run(progress: (String) -> Void) throws -> ClassifierTrainingResult {
        setTrainingThreads(threads)
        let tok = try Tokenizer.load(path: tokenizerPath)
        let trainRows = try readLabelledTSV(path: trainPath)
        let evalRows = try readLabelledTSV(path: evalPath)
        let labels = Array(Set(trainRows.map(\.label))).sorted()
        guard labels.count >= 2 else { throw ModelError.malformed(path: trainPath, reason: "needs at least 2 distinct labels") }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let model: BertTrainingModel
        switch start {
        case let .fineTune(base):
            let (m, kept) = try BertTrainingModel.loadForFineTuning(folder: base, labels: labels.count, seed: options.seed)
            model = m
            progress("fine-tuning \(base) (\(m.parameterCount) parameters; classification head \(kept ? "kept" : "new"))")
        case let .fromScratch(layers, heads, dim, intermediate):
            let cfg = BertTrainingConfig(vocabSize: tok.vocabSize, maxPositions: options.maxLength, layers: layers, heads: heads,
                                         dim: dim, intermediate: intermediate ?? 4 * dim, labels: labels.count)
            model = try BertTrainingModel(config: cfg, seed: options.seed)
            progress("training from scratch: \(model.parameterCount) parameters")
        }
        var o = options
        o.maxLength = min(options.maxLength, model.config.maxPositions)
        let trainSet = try ClassifierTrainer.encode(trainRows, tokenizer: tok, labelIndex: index, maxLength: o.maxLength, source: trainPath)
        let evalSet = try ClassifierTrainer.encode(evalRows, tokenizer: tok, labelIndex: index, maxLength: o.maxLength, source: evalPath)
        for set in [trainSet, evalSet] {
            if let bad = set.lazy.flatMap({ $0.ids }).first(where: { Int($0) >= model.config.vocabSize }) {
                throw ModelError.invalidInput("\(tokenizerPath): token id \(bad) is outside the model's vocabulary (\(model.config.vocabSize))")
            }
        }
        progress("\(trainSet.count) training and \(evalSet.count) evaluation examples, \(labels.count) labels")
        let padId = tok.paddingId
        let trainer = ClassifierTrainer(model: model, options: o, padId: padId)
        if let workFolder {
            do {
                try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: true)
            } catch {
                throw ModelError.unwritable(path: workFolder, reason: error.localizedDescription)
            }
            trainer.checkpointPath = (workFolder as NSString).appendingPathComponent("checkpoint.safetensors")
            trainer.checkpointEvery = checkpointEvery
            trainer.resume = resume
            // What must not change between a run and its resume: model shape, options, labels, data.
            trainer.checkpointSignature = "\(model.config) \(o) labels \(labels) examples \(trainSet.count) "
                + "ids \(trainSet.reduce(0) { $0 &* 31 &+ $1.ids.reduce($1.label) { $0 &* 1_000_003 &+ Int($1) } })"
        }
        let started = Date()
        let metrics = try trainer.train(trainSet, eval: evalSet, progress: progress)
        progress("trained in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        try model.exportHuggingFace(to: outputFolder, labels: labels, dtype: dtype, padId: padId)
        try tok.save(to: (outputFolder as NSString).appendingPathComponent("tokenizer.json"))
        try copyVocabularyFile()
        return ClassifierTrainingResult(labels: labels, metrics: try metrics ?? trainer.evaluate(evalSet),
                                        trainExamples: trainSet.count, evalExamples: evalSet.count)
    }

    /// Copies the tokenizer's vocab.txt (a WordPiece folder's, or the file itself) into the output.
    private func copyVocabularyFile() throws {
        var isDir: ObjCBool = false
        let source = FileManager.default.fileExists(atPath: tokenizerPath, isDirectory: &isDir) && isDir.boolValue
            ? (tokenizerPath as NSString).appendingPathComponent("vocab.txt")
            : (tokenizerPath.hasSuffix("vocab.txt") ? tokenizerPath : "")
        guard !source.isEmpty, let data = FileManager.default.contents(atPath: source) else { return }
        try writeAtomically(data, to: (outputFolder as NSString).appendingPathComponent("vocab.txt"))
    }
}
