// The language-model training loop: batches from a token file, gradient accumulation, clipping, AdamW
// with warmup + cosine schedule, periodic validation, atomic checkpoints and exact resumption, the loss
// curve, and the export of the trained model as a Hugging Face folder. The loop serves every
// architecture that conforms to `LMTrainingModel` (GPT-2, Llama).
import Foundation
import VerbaTensor

/// The architecture `verba train lm` builds.
///
/// ```swift
/// var options = LMTrainingOptions()
/// options.architecture = LMArchitecture(rawValue: "llama") ?? .gpt2   // RMSNorm, RoPE, SwiGLU, GQA
/// print(LMArchitecture.allCases.map(\.rawValue))                      // ["gpt2", "llama"]
/// ```
public enum LMArchitecture: String, Sendable, CaseIterable {
    /// GPT-2 (`GPT2LMHeadModel`): learned positions, LayerNorm, GELU MLP, tied embeddings.
    case gpt2
    /// Llama (`LlamaForCausalLM`): RoPE, RMSNorm, SwiGLU MLP, grouped-query attention.
    case llama
}

/// A causal language model the trainer can run: forward with a loss, backward into flat gradients, a
/// configuration signature for checkpoints, and an export as a Hugging Face folder.
package protocol LMTrainingModel: FlatParameterModel {
    /// Mean cross-entropy of `targets` (−1 ignored) given `inputs`, both B·T ids; keeps what `backward` needs.
    func forward(inputs: [Int32], targets: [Int32]?, batch: Int, time: Int) throws -> Float
    /// Adds the gradient of the last forward's loss times `lossScale` into `gradients`.
    func backward(lossScale: Float)
    /// The checkpoint kind ("gpt", "llama") and the configuration JSON a resumed run must match.
    var checkpointKind: String { get }
    var configSignature: String { get }
    /// A one-line description of the shape, for the loss curve's title.
    var shapeDescription: String { get }
    /// Writes config.json and model.safetensors into `folder`.
    func exportHuggingFace(to folder: String, dtype: DType, bosId: Int?, eosId: Int?, metadata: [String: String]) throws
}

/// Checks a training batch before a forward pass: B·T inputs with T ≤ `context`, every id inside the
/// vocabulary, and targets (if any) of the same shape with −1 for ignored positions; `model` names the
/// architecture in the error.
func checkTrainingBatch(inputs: [Int32], targets: [Int32]?, batch b: Int, time t: Int, context: Int,
                        vocabSize: Int, model: String) throws {
    guard b > 0, t > 0, t <= context, inputs.count == b * t else {
        throw ModelError.invalidInput("\(model) forward: need B·T = \(b)·\(t) inputs with T ≤ \(context), got \(inputs.count)")
    }
    for id in inputs where id < 0 || Int(id) >= vocabSize {
        throw ModelError.invalidInput("\(model) forward: token id \(id) outside the vocabulary (\(vocabSize))")
    }
    if let tg = targets {
        guard tg.count == b * t else { throw ModelError.invalidInput("\(model) forward: targets must have B·T entries") }
        for id in tg where Int(id) >= vocabSize || id < -1 {
            throw ModelError.invalidInput("\(model) forward: target id \(id) outside the vocabulary (\(vocabSize))")
        }
    }
}

extension GPTTrainingModel: LMTrainingModel {
    package var checkpointKind: String { "gpt" }
    package var configSignature: String { config.jsonSignature }
    package var shapeDescription: String {
        "GPT \(config.layers)L \(config.dim)d \(config.heads)h ctx \(config.context), vocab \(config.vocabSize)"
    }
}

extension LlamaTrainingModel: LMTrainingModel {
    package var checkpointKind: String { "llama" }
    package var shapeDescription: String {
        let c = config
        return "Llama \(c.layers)L \(c.dim)d \(c.heads)h/\(c.kvHeads)kv ffn \(c.ffnDim) ctx \(c.context), vocab \(c.vocabSize)"
    }
}

/// Hyperparameters of a language-model training run.
///
/// ```swift
/// var options = LMTrainingOptions()
/// options.layers = 6; options.heads = 6; options.dim = 384; options.context = 256
/// options.steps = 5000
/// options.learningRate = 6e-4
/// options.exportDType = .bf16
/// ```
public struct LMTrainingOptions: Sendable {
    public var architecture: LMArchitecture = .gpt2
    public var layers = 4, heads = 4, dim = 256, context = 128
    /// Llama only: key/value heads (nil: as many as `heads`), SwiGLU width (nil:
    /// `LlamaTrainingConfig.defaultFFNDim`), RoPE base, and whether the LM head is the token embedding.
    public var kvHeads: Int? = nil
    public var ffnDim: Int? = nil
    public var ropeTheta: Double = 10000
    public var tieEmbeddings = true
    /// Sequences per micro-batch.
    public var batchSize = 16
    /// Micro-batches accumulated per optimizer step.
    public var gradAccum = 1
    /// Optimizer steps.
    public var steps = 1000
    public var learningRate: Float = 1e-3
    /// Warmup steps (linear), then cosine decay to `minLRFraction · learningRate`.
    public var warmup = 100
    public var minLRFraction: Float = 0.1
    public var weightDecay: Float = 0.1
    /// Gradient clipping by global norm (0: off).
    public var clipNorm: Float = 1.0
    /// Validate every this many steps (0: only at the end), on at most `evalBatches` batches.
    public var evalEvery = 100
    public var evalBatches = 8
    /// Checkpoint every this many steps (0: only at the end).
    public var checkpointEvery = 100
    public var seed: UInt64 = 1337
    /// Hold out one block in `validationEvery` (blocks of `blockSize` tokens) for validation.
    public var validationEvery = 20
    public var blockSize = 4096
    /// Storage type of the exported weights.
    public var exportDType: DType = .f32

    public init() {}
}

/// Trains a language model (the architecture of `options`) on a token file; see `run`.
package final class LMTrainer {
    public let options: LMTrainingOptions
    public let model: any LMTrainingModel
    package let optimizer: AdamW
    public let tokens: TokenFile
    public let split: TokenSplit
    /// Where config.json / model.safetensors / loss.csv / loss.svg go.
    public let outputFolder: String
    /// Where the checkpoint goes.
    public let checkpointPath: String
    public let eosId: Int?
    /// Optimizer steps already done (after a resume).
    public private(set) var startStep = 0
    private let curve: LossCurve

    /// - Parameter resume: continue from `checkpointPath` when it exists (else start fresh).
    public init(options: LMTrainingOptions, tokens: TokenFile, outputFolder: String, checkpointPath: String,
                eosId: Int?, resume: Bool) throws {
        self.options = options
        self.tokens = tokens
        self.outputFolder = outputFolder
        self.checkpointPath = checkpointPath
        self.eosId = eosId
        guard options.steps > 0, options.batchSize > 0, options.gradAccum > 0 else {
            throw ModelError.invalidInput("steps, batch size and grad accumulation must be positive")
        }
        model = try LMTrainer.makeModel(options: options, vocabSize: tokens.vocabSize)
        optimizer = AdamW(count: model.parameterCount, slices: model.slices, weightDecay: options.weightDecay)
        split = try TokenSplit(count: tokens.tokens.count, time: options.context, blockSize: options.blockSize,
                               validationEvery: options.validationEvery)
        curve = LossCurve(csvPath: outputFolder + "/loss.csv", svgPath: outputFolder + "/loss.svg",
                          title: model.shapeDescription)
        try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
        if resume && FileManager.default.fileExists(atPath: checkpointPath) {
            startStep = try TrainingCheckpoint.load(model: model, optimizer: optimizer, kind: model.checkpointKind,
                                                    configJSON: model.configSignature, from: checkpointPath)
            curve.load(upTo: startStep)
        }
    }

    /// The model `options` describe, freshly initialised from `options.seed`.
    package static func makeModel(options o: LMTrainingOptions, vocabSize: Int) throws -> any LMTrainingModel {
        switch o.architecture {
        case .gpt2:
            return try GPTTrainingModel(config: GPTTrainingConfig(vocabSize: vocabSize, context: o.context, layers: o.layers,
                                                                  heads: o.heads, dim: o.dim), seed: o.seed)
        case .llama:
            let cfg = LlamaTrainingConfig(vocabSize: vocabSize, context: o.context, layers: o.layers, heads: o.heads,
                                          kvHeads: o.kvHeads ?? o.heads, dim: o.dim,
                                          ffnDim: o.ffnDim ?? LlamaTrainingConfig.defaultFFNDim(dim: o.dim),
                                          ropeTheta: o.ropeTheta, tieEmbeddings: o.tieEmbeddings)
            return try LlamaTrainingModel(config: cfg, seed: o.seed)
        }
    }

    /// Mean cross-entropy over validation windows (at most `limit` batches; all when nil).
    package func validationLoss(batches limit: Int?) throws -> Float? {
        let b = options.batchSize, t = options.context
        let starts = split.validationWindows(limit: limit.map { $0 * b })
        if starts.isEmpty { return nil }
        var total: Double = 0, count = 0
        var i = 0
        while i < starts.count {
            let chunk = Array(starts[i..<min(i + b, starts.count)])
            var inputs: [Int32] = [], targets: [Int32] = []
            for s in chunk {
                inputs.append(contentsOf: tokens.tokens[s..<(s + t)])
                targets.append(contentsOf: tokens.tokens[(s + 1)..<(s + t + 1)])
            }
            let loss = try model.forward(inputs: inputs, targets: targets, batch: chunk.count, time: t)
            total += Double(loss) * Double(chunk.count)
            count += chunk.count
            i += b
        }
        return Float(total / Double(count))
    }

    /// Runs the remaining steps, reporting a line per step through `progress`, checkpointing and
    /// exporting along the way. Returns the final validation loss over the whole held-out split (nil
    /// when there is none).
    @discardableResult
    public func run(progress: (String) -> Void) throws -> Float? {
        try runSteps(until: options.steps, progress: progress)
        let final = try validationLoss(batches: nil)
        if let v = final {
            progress("held-out loss \(String(format: "%.4f", v)), perplexity \(String(format: "%.2f", exp(Double(v)))) "
                     + "over \(split.validationWindows().count * options.context) tokens")
        }
        return final
    }

    /// Runs optimizer steps up to `limit` (≤ options.steps; the schedule still spans options.steps),
    /// checkpointing every `checkpointEvery` steps and at the last step of the run.
    package func runSteps(until limit: Int, progress: (String) -> Void) throws {
        let o = options, b = o.batchSize, t = o.context
        let tokensPerStep = Double(b * t * o.gradAccum)
        var inputs: [Int32] = [], targets: [Int32] = []
        let started = Date()
        let previousElapsed = curve.records.last?.elapsedSeconds ?? 0
        var timed = 0.0, timedSteps = 0
        if startStep > 0 { progress("resumed from step \(startStep) (\(checkpointPath))") }
        progress("model: \(model.parameterCount) parameters; train \(split.trainTokens) tokens, "
                 + "validation \(split.validationTokens) tokens; \(Int(tokensPerStep)) tokens per step")
        var step = startStep
        let end = min(limit, o.steps)
        while step < end {
            let t0 = Date()
            model.zeroGradients()
            var loss: Float = 0
            for micro in 0..<o.gradAccum {
                split.trainBatch(tokens: tokens.tokens, batch: b, seed: o.seed, step: step, micro: micro,
                                 inputs: &inputs, targets: &targets)
                loss += try model.forward(inputs: inputs, targets: targets, batch: b, time: t) / Float(o.gradAccum)
                model.backward(lossScale: 1 / Float(o.gradAccum))
            }
            guard loss.isFinite else {
                throw ModelError.invalidInput("training diverged at step \(step + 1) (loss \(loss)); lower --lr")
            }
            clipGradientNorm(model.gradients, count: model.parameterCount, maxNorm: o.clipNorm)
            let lr = learningRate(step: step, total: o.steps, warmup: o.warmup, maxLR: o.learningRate,
                                  minFraction: o.minLRFraction)
            optimizer.update(parameters: model.parameters, gradients: model.gradients, lr: lr)
            step += 1
            let dt = Date().timeIntervalSince(t0)
            timed += dt; timedSteps += 1
            let tps = tokensPerStep * Double(timedSteps) / timed
            var val: Float? = nil
            if (o.evalEvery > 0 && step % o.evalEvery == 0) || step == o.steps {
                val = try validationLoss(batches: o.evalBatches)
            }
            let elapsed = previousElapsed + Date().timeIntervalSince(started)
            curve.append(LossRecord(step: step, learningRate: lr, trainLoss: loss, validationLoss: val,
                                    tokensPerSecond: tokensPerStep / dt, elapsedSeconds: elapsed))
            let eta = Double(o.steps - step) * timed / Double(timedSteps)
            var line = "step \(step)/\(o.steps) | loss \(String(format: "%.4f", loss))"
            if let v = val { line += " | val loss \(String(format: "%.4f", v)) (ppl \(String(format: "%.1f", exp(Double(v)))))" }
            line += " | lr \(String(format: "%.2e", lr)) | \(Int(tps)) tok/s | ETA \(formatDuration(eta))"
            progress(line)
            if (o.checkpointEvery > 0 && step % o.checkpointEvery == 0) || step == end {
                try checkpoint(step: step)
            }
        }
    }

    /// Saves the loss curve, the checkpoint and the exported model folder. The curve goes first: a kill
    /// between the two leaves a curve ahead of the checkpoint (resuming drops the extra rows), never behind.
    package func checkpoint(step: Int) throws {
        try curve.save()
        try TrainingCheckpoint.save(model: model, optimizer: optimizer, step: step, kind: model.checkpointKind,
                                    configJSON: model.configSignature, to: checkpointPath)
        try model.exportHuggingFace(to: outputFolder, dtype: options.exportDType, bosId: eosId, eosId: eosId,
                                    metadata: ["verba_step": String(step)])
    }
}

/// "1h02m", "12m30s", "45s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
