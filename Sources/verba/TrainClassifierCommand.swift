import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor

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
        model.safetensors (bert.* and classifier.* names), tokenizer.json and, for WordPiece, vocab.txt. \
        Every --checkpoint-every steps and after each epoch the state is saved atomically to \
        WORK/checkpoint.safetensors, so a killed run continues with --resume (same data and options) and \
        ends with the model an uninterrupted run writes.

        Examples:
          verba train classifier --base downloads/minilm --train train.tsv --eval dev.tsv --epochs 2 \\
              --lr 5e-5 --output models/my-classifier
          verba train classifier --base downloads/minilm --head-only --train train.tsv --eval dev.tsv \\
              --lr 1e-3 --output models/my-classifier
          verba train classifier --from-scratch --tokenizer vocab/langid.json --layers 2 --heads 4 \\
              --dim 128 --train train.tsv --eval dev.tsv --epochs 3 --lr 1e-3 --output models/langid
          verba train classifier ... --output models/langid --resume     # after an interruption
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
    @Option(name: .customLong("checkpoint-every"), help: "Checkpoint every N steps (0: only after each epoch).") var checkpointEvery = 100
    @Flag(help: "Continue from WORK/checkpoint.safetensors.") var resume = false
    @Option(name: .customLong("work-dir"), help: "Folder for the checkpoint (default: OUTPUT).") var workDir: String?
    @Option(help: "Output model folder.") var output: String

    func validate() throws {
        if (base == nil) == !fromScratch { throw ValidationError("give exactly one of --base DIR and --from-scratch") }
        if fromScratch && tokenizer == nil { throw ValidationError("--from-scratch needs --tokenizer") }
        if fromScratch && headOnly { throw ValidationError("--head-only needs --base") }
        for (name, v) in [("layers", layers), ("heads", heads), ("dim", dim), ("max-length", maxLength), ("epochs", epochs),
                          ("batch-size", batchSize)] where v <= 0 {
            throw ValidationError("--\(name) must be positive")
        }
        if checkpointEvery < 0 { throw ValidationError("--checkpoint-every must be 0 or more") }
        if dim % heads != 0 { throw ValidationError("--dim (\(dim)) must be a multiple of --heads (\(heads))") }
    }

    func run() throws {
        var o = ClassifierTrainingOptions()
        o.epochs = epochs; o.batchSize = batchSize; o.learningRate = lr; o.weightDecay = weightDecay
        o.maxLength = maxLength; o.headOnly = headOnly; o.seed = seed
        let start: ClassifierStart = base.map { .fineTune(base: $0) }
            ?? .fromScratch(layers: layers, heads: heads, dim: dim, intermediate: intermediate)
        // validate() makes sure one of --tokenizer and --base is given.
        var training = ClassifierTrainingRun(start: start, tokenizerPath: tokenizer ?? base ?? "", trainPath: train,
                                             evalPath: eval, options: o, outputFolder: output,
                                             dtype: float16 ? .f16 : .f32, threads: threads)
        training.workFolder = workDir ?? output
        training.checkpointEvery = checkpointEvery
        training.resume = resume
        let result = try training.run { printNote($0) }
        let m = result.metrics
        let out = StandardOutput.shared
        out.write("accuracy\t\(String(format: "%.6f", m.accuracy))\n")
        out.write("macro_f1\t\(String(format: "%.6f", m.macroF1))\n")
        for (k, row) in m.perLabel.enumerated() {
            out.write("\(result.labels[k])\t\(String(format: "%.4f", row.precision))\t\(String(format: "%.4f", row.recall))\t"
                      + "\(String(format: "%.4f", row.f1))\t\(row.support)\n")
        }
        printNote("wrote \(output)")
    }
}
