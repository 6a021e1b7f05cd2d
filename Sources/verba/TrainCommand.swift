import ArgumentParser

/// `verba train`: trains models and writes Hugging Face model folders.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a GPT language model from scratch, or a BERT-style text classifier.",
        discussion: """
        Both subcommands write a Hugging Face folder (config.json, model.safetensors, tokenizer.json) \
        that `verba generate` / `verba classify` and `transformers` load unchanged.

        Examples:
          verba train lm --tokenizer tok.json --corpus bible.txt fortunes.txt --layers 4 --heads 4 \\
              --dim 256 --context 128 --batch-size 16 --steps 2000 --lr 1e-3 --output models/my-gpt
          verba train classifier --from-scratch --tokenizer tok.json --train train.tsv --eval dev.tsv \\
              --output models/my-classifier
        """,
        subcommands: [TrainLMCommand.self, TrainClassifierCommand.self]
    )
}
