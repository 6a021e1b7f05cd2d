import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers

/// `verba train classifier`: fine-tunes a BERT-style model (or trains a small one from scratch) on
/// labelled text, evaluates it and writes a BertForSequenceClassification folder.
struct TrainClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classifier",
        abstract: "Fine-tune a BERT-style text classifier, or train a small one from scratch.",
        discussion: """
        TRAIN and EVAL are TSV files, one example a line: label<TAB>text. The labels are those of TRAIN \
        (sorted). Texts are encoded as inference encodes them (the tokenizer's special tokens added) and \
        cut to --max-length tokens. After every epoch the accuracy and macro-F1 on EVAL go to standard \
        error; at the end they are printed on standard output (accuracy, macro_f1, then per label: \
        label, precision, recall, F1, support). OUTPUT gets config.json (with id2label / label2id), \
        model.safetensors (bert.* and classifier.* names), tokenizer.json and, for WordPiece, vocab.txt.

        Examples:
          verba train classifier --base downloads/minilm --train train.tsv --eval dev.tsv --epochs 2 \\
              --lr 5e-5 --output models/my-classifier
          verba train classifier --base downloads/minilm --head-only --train train.tsv --eval dev.tsv \\
              --lr 1e-3 --output models/my-classifier
          verba train classifier --from-scratch --tokenizer vocab/langid.json --layers 2 --heads 4 \\
              --dim 128 --train train.tsv --eval dev.tsv --epochs 3 --lr 1e-3 --output models/langid
        """
    )

    @Option(help: "Folder of a BERT model to fine-tune (config.json, model.safetensors, tokenizer files).") var base: String?
    @Flag(name: .customLong("from-scratch"), help: "Train a new model (sizes from --layers, --heads, --dim).") var fromScratch = false
    @Option(help: "Tokenizer (required with --from-scratch; default: the --base folder's).") var tokenizer: String?
    @Option(help: "Training data, label<TAB>text per line.") var train: String
    @Option(help: "Evaluation data, label<TAB>text per line.") var eval: String
    @Flag(name: .customLong("head-only"), help: "Train only the pooler and the classification layer.") var headOnly = false
    @Option(help: "Blocks (from scratch).") var layers = 2
    @Option(help: "Attention heads (from scratch).") var heads = 4
    @Option(help: "Width (from scratch).") var dim = 128
    @Option(help: "MLP width (from scratch; default 4 × dim).") var intermediate: Int?
    @Option(name: .customLong("max-length"), help: "Longest sequence in tokens (also n_positions from scratch).") var maxLength = 64
    @Option(help: "Passes over the training data.") var epochs = 3
    @Option(name: .customLong("batch-size"), help: "Examples per step.") var batchSize = 32
    @Option(help: "Peak learning rate (warmup, then cosine to 0).") var lr: Float = 5e-4
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay.") var weightDecay: Float = 0.01
    @Option(help: "Seed for initialisation and shuffling.") var seed: UInt64 = 1234
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Flag(help: "Store the weights as float16 (half the size).") var float16 = false
    @Option(help: "Output model folder.") var output: String

    func validate() throws {
        if (base == nil) == !fromScratch { throw ValidationError("give exactly one of --base DIR and --from-scratch") }
        if fromScratch && tokenizer == nil { throw ValidationError("--from-scratch needs --tokenizer") }
        if fromScratch && headOnly { throw ValidationError("--head-only needs --base") }
        for (name, v) in [("layers", layers), ("heads", heads), ("dim", dim), ("max-length", maxLength), ("epochs", epochs),
                          ("batch-size", batchSize)] where v <= 0 {
            throw ValidationError("--\(name) must be positive")
        }
        if dim % heads != 0 { throw ValidationError("--dim (\(dim)) must be a multiple of --heads (\(heads))") }
    }

    func run() throws {
        let threadCount = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        setTrainingThreads(threadCount)
        let tokPath = tokenizer ?? base!
        let tok = try Tokenizer.load(path: tokPath)
        let trainRows = try readLabelledTSV(path: train)
        let evalRows = try readLabelledTSV(path: eval)
        let labels = Array(Set(trainRows.map(\.label))).sorted()
        guard labels.count >= 2 else { throw ModelError.malformed(path: train, reason: "needs at least 2 distinct labels") }
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let model: BertTrainingModel
        if let base = base {
            let (m, kept) = try BertTrainingModel.loadForFineTuning(folder: base, labels: labels.count, seed: seed)
            model = m
            printNote("fine-tuning \(base) (\(m.parameterCount) parameters; classification head \(kept ? "kept" : "new"))")
        } else {
            let cfg = BertTrainingConfig(vocabSize: tok.vocabSize, maxPositions: maxLength, layers: layers, heads: heads, dim: dim,
                                         intermediate: intermediate ?? 4 * dim, labels: labels.count)
            model = try BertTrainingModel(config: cfg, seed: seed)
            printNote("training from scratch: \(model.parameterCount) parameters")
        }
        let maxLen = min(maxLength, model.config.maxPositions)
        let trainSet = try ClassifierTrainer.encode(trainRows, tokenizer: tok, labelIndex: index, maxLength: maxLen, source: train)
        let evalSet = try ClassifierTrainer.encode(evalRows, tokenizer: tok, labelIndex: index, maxLength: maxLen, source: eval)
        for set in [trainSet, evalSet] {
            if let bad = set.lazy.flatMap({ $0.ids }).first(where: { Int($0) >= model.config.vocabSize }) {
                throw ModelError.invalidInput("\(tokPath): token id \(bad) is outside the model's vocabulary (\(model.config.vocabSize))")
            }
        }
        printNote("\(trainSet.count) training and \(evalSet.count) evaluation examples, \(labels.count) labels")
        var o = ClassifierTrainingOptions()
        o.epochs = epochs; o.batchSize = batchSize; o.learningRate = lr; o.weightDecay = weightDecay
        o.maxLength = maxLen; o.headOnly = headOnly; o.seed = seed
        let padId = tok.tokenToId("[PAD]") ?? tok.tokenToId("<pad>") ?? 0
        let trainer = ClassifierTrainer(model: model, options: o, padId: padId)
        let start = Date()
        let metrics = try trainer.train(trainSet, eval: evalSet) { printNote($0) }
        printNote("trained in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        try model.exportHuggingFace(to: output, labels: labels, dtype: float16 ? .f16 : .f32, padId: padId)
        try tok.save(to: output + "/tokenizer.json")
        var isDir: ObjCBool = false
        let vocabSource = FileManager.default.fileExists(atPath: tokPath, isDirectory: &isDir) && isDir.boolValue
            ? tokPath + "/vocab.txt" : (tokPath.hasSuffix("vocab.txt") ? tokPath : "")
        if !vocabSource.isEmpty, FileManager.default.fileExists(atPath: vocabSource) {
            try? FileManager.default.removeItem(atPath: output + "/vocab.txt")
            try FileManager.default.copyItem(atPath: vocabSource, toPath: output + "/vocab.txt")
        }
        let m = try metrics ?? trainer.evaluate(evalSet)
        let out = StandardOutput.shared
        out.write("accuracy\t\(String(format: "%.6f", m.accuracy))\n")
        out.write("macro_f1\t\(String(format: "%.6f", m.macroF1))\n")
        for (k, row) in m.perLabel.enumerated() {
            out.write("\(labels[k])\t\(String(format: "%.4f", row.precision))\t\(String(format: "%.4f", row.recall))\t"
                      + "\(String(format: "%.4f", row.f1))\t\(row.support)\n")
        }
        printNote("wrote \(output)")
    }
}
