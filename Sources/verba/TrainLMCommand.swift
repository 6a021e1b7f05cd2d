import ArgumentParser
import Foundation
import VerbaModels
import VerbaTokenizers

/// `verba train lm`: trains a GPT-2 or Llama-architecture language model from scratch on text files.
struct TrainLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "Train a GPT-2 or Llama-architecture language model from scratch.",
        discussion: """
        The corpus is tokenized once into WORK/tokens.bin (lines holding only "%" separate documents, \
        as in fortune files; each document ends with <|endoftext|> when the tokenizer has it). One block \
        of tokens in --validation-every is held out. Progress (step, loss, validation loss, tokens/s, \
        ETA) goes to standard error; the loss curve to OUTPUT/loss.csv and OUTPUT/loss.svg. Every \
        --checkpoint-every steps the state is saved atomically to WORK/checkpoint.safetensors and the \
        model folder is refreshed, so a killed run continues with --resume (same options), losing at \
        most that many steps. OUTPUT gets config.json, model.safetensors and tokenizer.json: with \
        --arch gpt2 (the default) a GPT2LMHeadModel (learned positions, LayerNorm, GELU MLP); with \
        --arch llama a LlamaForCausalLM (RoPE, RMSNorm, SwiGLU MLP of --ffn-dim, grouped-query \
        attention with --kv-heads key/value heads, no biases). Both load in Hugging Face transformers \
        and in verba generate / perplexity / chat.

        Examples:
          verba train lm --tokenizer vocab/bpe-8k.json --corpus kjv.txt fortunes.txt \\
              --layers 4 --heads 4 --dim 256 --context 128 --batch-size 16 --steps 2000 --lr 1e-3 \\
              --warmup 100 --eval-every 100 --checkpoint-every 100 --output models/gpt-small
          verba train lm --arch llama --tokenizer vocab/bpe-8k.json --corpus kjv.txt \\
              --layers 6 --heads 6 --kv-heads 2 --dim 192 --ffn-dim 512 --context 128 --steps 2000 \\
              --output models/llama-small
          verba train lm ... --output models/gpt-small --resume     # after an interruption
        """
    )

    @Option(help: "Tokenizer (tokenizer.json, or a folder with tokenizer files).") var tokenizer: String
    @Option(parsing: .upToNextOption, help: "Text files to train on.") var corpus: [String]
    @Option(help: "Architecture: gpt2 or llama.") var arch: String = "gpt2"
    @Option(help: "Transformer blocks.") var layers = 4
    @Option(help: "Attention heads per block.") var heads = 4
    @Option(name: .customLong("kv-heads"), help: "Llama: key/value heads, dividing --heads (default: --heads).") var kvHeads: Int?
    @Option(help: "Model width.") var dim = 256
    @Option(name: .customLong("ffn-dim"), help: "Llama: SwiGLU width (default: 8/3 of --dim rounded up to 64, SmolLM2's ratio).") var ffnDim: Int?
    @Option(name: .customLong("rope-theta"), help: "Llama: RoPE base (default 10000).") var ropeTheta: Double?
    @Flag(name: .customLong("untied-embeddings"), help: "Llama: a separate LM head instead of the token embedding.") var untiedEmbeddings = false
    @Option(help: "Context length (tokens per training window, and n_positions / max_position_embeddings).") var context = 128
    @Option(name: .customLong("batch-size"), help: "Sequences per micro-batch.") var batchSize = 16
    @Option(help: "Optimizer steps.") var steps = 1000
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Warmup steps (default: 5% of --steps).") var warmup: Int?
    @Option(name: .customLong("min-lr-fraction"), help: "Final learning rate as a fraction of --lr.") var minLRFraction: Float = 0.1
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay (matrices and embeddings).") var weightDecay: Float = 0.1
    @Option(name: .customLong("grad-accum"), help: "Micro-batches per optimizer step.") var gradAccum = 1
    @Option(help: "Gradient clipping: maximum global norm (0: off).") var clip: Float = 1.0
    @Option(name: .customLong("eval-every"), help: "Validate every N steps (0: only at the end).") var evalEvery = 100
    @Option(name: .customLong("eval-batches"), help: "Batches per periodic validation.") var evalBatches = 8
    @Option(name: .customLong("checkpoint-every"), help: "Checkpoint every N steps (0: only at the end).") var checkpointEvery = 100
    @Option(name: .customLong("validation-every"), help: "Hold out one 4096-token block in N.") var validationEvery = 20
    @Flag(help: "Continue from WORK/checkpoint.safetensors (and reuse WORK/tokens.bin).") var resume = false
    @Option(help: "Seed for initialisation and batch sampling.") var seed: UInt64 = 1337
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Flag(help: "Store the exported weights as float16 (half the size).") var float16 = false
    @Option(name: .customLong("eos-token"), parsing: .unconditional, help: "Token appended after each document, if the tokenizer has it.") var eosToken = "<|endoftext|>"
    @Option(name: .customLong("work-dir"), help: "Folder for tokens.bin and the checkpoint (default: OUTPUT).") var workDir: String?
    @Option(help: "Output model folder.") var output: String

    func validate() throws {
        if corpus.isEmpty { throw ValidationError("--corpus needs at least one file") }
        for (name, v) in [("layers", layers), ("heads", heads), ("dim", dim), ("context", context), ("batch-size", batchSize),
                          ("steps", steps), ("grad-accum", gradAccum)] where v <= 0 {
            throw ValidationError("--\(name) must be positive")
        }
        guard let architecture = LMArchitecture(rawValue: arch) else {
            throw ValidationError("--arch must be one of \(LMArchitecture.allCases.map(\.rawValue).joined(separator: ", ")), not \(arch)")
        }
        if dim % heads != 0 { throw ValidationError("--dim (\(dim)) must be a multiple of --heads (\(heads))") }
        if architecture == .gpt2, kvHeads != nil || ffnDim != nil || ropeTheta != nil || untiedEmbeddings {
            throw ValidationError("--kv-heads, --ffn-dim, --rope-theta and --untied-embeddings need --arch llama")
        }
        if architecture == .llama {
            if (dim / heads) % 2 != 0 { throw ValidationError("--dim / --heads (\(dim / heads)) must be even for RoPE") }
            if let kv = kvHeads, kv <= 0 || heads % kv != 0 {
                throw ValidationError("--kv-heads (\(kv)) must be positive and divide --heads (\(heads))")
            }
            if let f = ffnDim, f <= 0 { throw ValidationError("--ffn-dim must be positive") }
            if let theta = ropeTheta, !(theta > 1) { throw ValidationError("--rope-theta must exceed 1") }
        }
        if !(lr > 0) { throw ValidationError("--lr must be positive") }
    }

    func run() throws {
        var o = LMTrainingOptions()
        o.architecture = LMArchitecture(rawValue: arch) ?? .gpt2
        o.kvHeads = kvHeads; o.ffnDim = ffnDim; o.ropeTheta = ropeTheta ?? 10000; o.tieEmbeddings = !untiedEmbeddings
        o.layers = layers; o.heads = heads; o.dim = dim; o.context = context; o.batchSize = batchSize
        o.gradAccum = gradAccum; o.steps = steps; o.learningRate = lr; o.warmup = warmup ?? max(1, steps / 20)
        o.minLRFraction = minLRFraction; o.weightDecay = weightDecay; o.clipNorm = clip; o.evalEvery = evalEvery
        o.evalBatches = evalBatches; o.checkpointEvery = checkpointEvery; o.seed = seed; o.validationEvery = validationEvery
        o.exportDType = float16 ? .f16 : .f32
        let training = LMTrainingRun(tokenizer: try Tokenizer.load(path: tokenizer), corpus: corpus, options: o,
                                     outputFolder: output, workFolder: workDir, resume: resume, eosToken: eosToken,
                                     threads: threads)
        _ = try training.run { printNote($0) }
        printNote("wrote \(output) (config.json, model.safetensors, tokenizer.json, loss.csv, loss.svg, training-summary.json)")
    }
}
