import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor
import VerbaTokenizers

/// `verba classify`: one line per input line, the best label and its probability (or every label's).
struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify each line of standard input with a BERT classifier, or zero-shot by embedding similarity.",
        discussion: """
        Each input line (without its newline) is one text and gives exactly one output line, also for \
        an empty line.

        --format tsv (default): LABEL<TAB>SCORE, the best label and its probability with 6 decimals. \
        --format jsonl: {"label": ..., "score": ..., "scores": {label: score, ...}} with every label.

        With a classification model (config.json architectures BertForSequenceClassification, id2label, \
        weights with classifier.weight/bias), scores are the softmax of the logits, or one sigmoid per \
        label when config.json's problem_type is multi_label_classification (the best label is then the \
        highest sigmoid).

        With --labels A,B,C the classification is zero-shot: the model is used as a sentence embedder \
        (as `verba embed` would, e.g. all-MiniLM-L6-v2), every label name is embedded like a sentence, and \
        the scores are softmax(S · cos(text, label)) over the labels, S = --similarity-scale (default 20, \
        the scale sentence-transformers models are trained with; a temperature of 0.05).

        Without --model, the default model is the classification model found in models/ (beside the \
        current folder or the package the binary was built in).

        A line longer than --max-length tokens is truncated as Hugging Face does, reported once on \
        standard error. Input is read in chunks; lines are sorted by length into batches, and results \
        are written in input order.

        Examples:
          echo "Das ist ein Haus." | verba classify
          verba classify --model path/to/bert-classifier --format jsonl < reviews.txt
          echo "The striker scored twice." | verba classify --model downloads/minilm --labels sports,cooking,politics
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case tsv, jsonl }

    @Option(name: .long, help: "Model folder (default: the classifier in models/).")
    var model: String?

    @Option(name: .long, help: "Longest input in tokens, special tokens included (default: the model's positions, or max_seq_length of a sentence-transformers folder with --labels).")
    var maxLength: Int?

    @Option(name: .long, help: "Output format: tsv or jsonl.")
    var format: Format = .tsv

    @Option(name: .long, parsing: .unconditional, help: "Comma-separated labels for zero-shot classification by embedding similarity.")
    var labels: String?

    @Option(name: .long, help: "Zero-shot: cosine similarities are multiplied by this before the softmax.")
    var similarityScale: Float = 20

    @Option(name: .long, help: "Lines per forward pass, after sorting by length.")
    var batchSize: Int = 32

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let maxLength, maxLength < 2 { throw ValidationError("--max-length must be at least 2") }
        if let labels, parseLabels(labels).isEmpty { throw ValidationError("--labels needs at least one label") }
        if !(similarityScale > 0) || !similarityScale.isFinite { throw ValidationError("--similarity-scale must be positive") }
    }

    func parseLabels(_ s: String) -> [String] {
        s.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        if let threads { ThreadPool.shared.setThreads(threads) }
        let folder = try model ?? DefaultModels.find(.bertClassifier)
        let labelNames: [String]
        let maxLength: Int
        let classify: ([[UInt8]]) throws -> (results: [ClassificationResult], truncated: [(index: Int, tokens: Int)])
        if let labels {
            let embedder = try Embedder(folder: folder, maxLength: self.maxLength)
            embedder.batchSize = batchSize
            let zero = try ZeroShotClassifier(embedder: embedder, labels: parseLabels(labels), scale: similarityScale)
            labelNames = zero.labels
            maxLength = embedder.encoder.maxLength
            classify = { try zero.classify(bytes: $0) }
        } else {
            let classifier = try SequenceClassifier(folder: folder, maxLength: self.maxLength)
            classifier.batchSize = batchSize
            labelNames = classifier.labels
            maxLength = classifier.encoder.maxLength
            classify = { try classifier.classify(bytes: $0) }
        }
        let escaped = labelNames.map { jsonString($0) }
        let out = StandardOutput.shared
        let format = self.format
        var line: [UInt8] = []
        try streamChunks(maxLength: maxLength) { chunk in
            let (results, truncated) = try classify(chunk)
            for r in results {
                line.removeAll(keepingCapacity: true)
                switch format {
                case .tsv:
                    line.append(contentsOf: labelNames[r.best].utf8)
                    line.append(9)
                    appendFixed6(r.scores[r.best], to: &line)
                case .jsonl:
                    line.append(contentsOf: "{\"label\":".utf8)
                    line.append(contentsOf: escaped[r.best].utf8)
                    line.append(contentsOf: ",\"score\":".utf8)
                    appendFixed6(r.scores[r.best], to: &line)
                    line.append(contentsOf: ",\"scores\":{".utf8)
                    for (k, name) in escaped.enumerated() {
                        if k > 0 { line.append(UInt8(ascii: ",")) }
                        line.append(contentsOf: name.utf8)
                        line.append(UInt8(ascii: ":"))
                        appendFixed6(r.scores[k], to: &line)
                    }
                    line.append(contentsOf: "}}".utf8)
                }
                line.append(10)
                line.withUnsafeBufferPointer { out.write(bytes: $0) }
            }
            return truncated
        }
    }
}

/// A JSON string literal for `s` (VerbaTokenizers' JSON writer escapes it).
func jsonString(_ s: String) -> String {
    var out: [UInt8] = []
    appendJSONString(s, to: &out)
    return String(decoding: out, as: UTF8.self)
}
