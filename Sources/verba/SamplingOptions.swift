import ArgumentParser
import VerbaModels

/// The sampling options of the commands that generate text (`verba generate`, `verba chat`).
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 1.0

    @Option(name: .long, help: "Keep only the K most likely tokens (0: off).")
    var topK = 0

    @Option(name: .long, help: "Keep the most likely tokens up to probability mass P (1: off).")
    var topP: Float = 1.0

    @Option(name: .long, help: "Drop tokens less likely than P times the best one (0: off).")
    var minP: Float = 0.0

    @Option(name: .long, help: "Penalize tokens already in the text (1: off; 1.1-1.3 typical).")
    var repetitionPenalty: Float = 1.0

    @Option(name: .long, help: "Seed of the sampler (the same seed gives the same output).")
    var seed: UInt64 = 0

    /// The parameters the options describe.
    var parameters: SamplingParameters {
        SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP,
                           repetitionPenalty: repetitionPenalty)
    }
}
