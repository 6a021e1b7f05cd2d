// Training a language model (GPT-2 or Llama architecture) from text files end to end (what
// `verba train lm` runs): the corpus
// tokenized once into a token file in the work folder (reused on resume), the trainer run with
// checkpoints, and a summary of the run written beside the exported model.

import Foundation
import VerbaTokenizers

/// What a language-model training run did, also written to `training-summary.json` in the output
/// folder.
///
/// ```swift
/// let run = LMTrainingRun(tokenizer: try Tokenizer.load(path: "bpe-8k.json"), corpus: ["kjv.txt"],
///                         options: LMTrainingOptions(), outputFolder: "models/gpt-small")
/// let summary = try run.run { print($0) }
/// print("\(summary.parameters) parameters, \(summary.trainTokens) training tokens")
/// if let ppl = summary.validationPerplexity { print("validation perplexity \(ppl)") }
/// ```
public struct LMTrainingSummary: Sendable {
    /// Trainable parameters of the model.
    public var parameters: Int
    /// Optimizer steps the run was asked for.
    public var steps: Int
    /// Tokens of the corpus, and how many of them train and are held out.
    public var tokens: Int
    public var trainTokens: Int
    public var validationTokens: Int
    /// Final validation loss (mean negative log-likelihood per token) when there is validation data.
    public var validationLoss: Float?
    /// Seconds this run took (after a resume, since the resume) and the threads it ran on.
    public var seconds: Double
    public var threads: Int

    /// `exp(validationLoss)`.
    public var validationPerplexity: Double? { validationLoss.map { exp(Double($0)) } }
}

/// A language model trained from scratch on text files, with checkpoints to resume from: GPT-2 or
/// Llama architecture (`options.architecture`).
///
/// The corpus is tokenized once into `workFolder/tokens.bin` (lines holding only "%" separate
/// documents; each document ends with `eosToken` when the tokenizer has it). Every
/// `options.checkpointEvery` steps the state is saved atomically to `workFolder/checkpoint.safetensors`
/// and the model folder refreshed; with `resume` a run continues from there (reusing tokens.bin).
/// The output folder gets config.json, model.safetensors, tokenizer.json, loss.csv, loss.svg and
/// training-summary.json.
///
/// ```swift
/// var options = LMTrainingOptions()
/// options.steps = 2000
/// options.architecture = .llama; options.kvHeads = 2        // 4 query heads share 2 key/value heads
/// let run = LMTrainingRun(tokenizer: try Tokenizer.load(path: "bpe-8k.json"), corpus: ["kjv.txt"],
///                         options: options, outputFolder: "models/llama-small")
/// let summary = try run.run { print($0) }
/// print(summary.validationPerplexity ?? .nan)
/// ```
public struct LMTrainingRun {
    public var tokenizer: Tokenizer
    /// Text files to train on.
    public var corpus: [String]
    public var options: LMTrainingOptions
    public var outputFolder: String
    /// Folder for tokens.bin and the checkpoint.
    public var workFolder: String
    /// Continue from the checkpoint in `workFolder` (same options) and reuse its tokens.bin.
    public var resume: Bool
    /// Token appended after each document, if the tokenizer has it.
    public var eosToken: String
    /// Threads for tokenizing and training.
    public var threads: Int

    /// - Parameters:
    ///   - workFolder: default `outputFolder`.
    ///   - threads: default all cores.
    public init(tokenizer: Tokenizer, corpus: [String], options: LMTrainingOptions, outputFolder: String,
                workFolder: String? = nil, resume: Bool = false, eosToken: String = "<|endoftext|>", threads: Int? = nil) {
        self.tokenizer = tokenizer
        self.corpus = corpus
        self.options = options
        self.outputFolder = outputFolder
        self.workFolder = workFolder ?? outputFolder
        self.resume = resume
        self.eosToken = eosToken
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Where the tokenized corpus is kept.
    public var tokenFilePath: String { (workFolder as NSString).appendingPathComponent("tokens.bin") }

    /// The tokenized corpus: the work folder's tokens.bin on resume when it exists, else the corpus
    /// tokenized now and written there.
    /// - Throws: `ModelError.malformed` when a reused token file was made with another vocabulary size;
    ///   `ModelError.unreadable` / `.unwritable` for files.
    package func tokens(progress: (String) -> Void) throws -> TokenFile {
        let path = tokenFilePath
        if resume && FileManager.default.fileExists(atPath: path) {
            let tokens = try TokenFile.read(path: path)
            guard tokens.vocabSize == tokenizer.vocabSize else {
                throw ModelError.malformed(path: path, reason: "made with a vocabulary of \(tokens.vocabSize), the tokenizer has \(tokenizer.vocabSize)")
            }
            progress("reusing \(path): \(tokens.tokens.count) tokens")
            return tokens
        }
        let start = Date()
        let ids = try CorpusTokenizer.tokenize(files: corpus, tokenizer: tokenizer, eosId: tokenizer.tokenToId(eosToken), threads: threads)
        let tokens = TokenFile(tokens: ids, vocabSize: tokenizer.vocabSize)
        try tokens.write(to: path)
        progress("tokenized \(corpus.count) file(s): \(ids.count) tokens in \(String(format: "%.1f", Date().timeIntervalSince(start))) s → \(path)")
        return tokens
    }

    /// Runs the whole training, reporting progress lines (step, loss, validation loss, tokens/s, ETA)
    /// to `progress`, and returns its summary.
    /// - Throws: `ModelError` for unreadable corpora, unwritable folders, a checkpoint that does not
    ///   match the options on resume.
    public func run(progress: (String) -> Void) throws -> LMTrainingSummary {
        setTrainingThreads(threads)
        do {
            try FileManager.default.createDirectory(atPath: workFolder, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        } catch {
            throw ModelError.unwritable(path: outputFolder, reason: "\(error.localizedDescription)")
        }
        let tokens = try tokens(progress: progress)
        try tokenizer.save(to: (outputFolder as NSString).appendingPathComponent("tokenizer.json"))
        let trainer = try LMTrainer(options: options, tokens: tokens, outputFolder: outputFolder,
                                    checkpointPath: (workFolder as NSString).appendingPathComponent("checkpoint.safetensors"),
                                    eosId: tokenizer.tokenToId(eosToken), resume: resume)
        let start = Date()
        let final = try trainer.run(progress: progress)
        let summary = LMTrainingSummary(
            parameters: trainer.model.parameterCount, steps: options.steps, tokens: tokens.tokens.count,
            trainTokens: trainer.split.trainTokens, validationTokens: trainer.split.validationTokens,
            validationLoss: final, seconds: Date().timeIntervalSince(start), threads: threads)
        let json: [String: Any] = [
            "parameters": summary.parameters, "steps": summary.steps, "tokens": summary.tokens,
            "train_tokens": summary.trainTokens, "validation_tokens": summary.validationTokens,
            "validation_loss": summary.validationLoss.map { Double($0) } ?? NSNull(),
            "validation_perplexity": summary.validationPerplexity ?? NSNull(),
            "seconds_this_run": summary.seconds, "threads": summary.threads,
            "architecture": options.architecture.rawValue,
        ]
        try writeAtomically(Data(try jsonText(json).utf8), to: (outputFolder as NSString).appendingPathComponent("training-summary.json"))
        return summary
    }
}
