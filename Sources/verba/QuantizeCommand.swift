import ArgumentParser
import Foundation
import VerbaModels
import VerbaTensor

/// `verba quantize`: a model as a GGUF file llama.cpp loads, quantized or not.
struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a model (Hugging Face folder or GGUF file) as a GGUF file: q8_0, q4_0, q4_k_m, f16 or bf16.",
        discussion: """
        IN is a Hugging Face folder (GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM \
        with a byte-level BPE tokenizer.json; or a BERT / sentence-transformers folder with vocab.txt, written \
        as llama.cpp's bert architecture with its pooling) or a GGUF file. OUT gets the \
        tensor names, metadata, Q/K permutation and tokenizer vocabulary llama.cpp's convert_hf_to_gguf.py \
        writes, with each tensor's type chosen as llama-quantize chooses it for the file type (q4_k_m \
        mixes Q4_K with Q6_K for attn_v, ffn_down and the output in the layers llama.cpp picks; norms \
        and biases stay f32). The file is written to a temporary file and renamed, so OUT is never half \
        written. Progress goes to standard error.

        Examples:
          verba quantize --type q8_0 models/SmolLM2-135M smollm2-q8_0.gguf
          verba quantize --type q4_k_m models/gpt2 gpt2-q4_k_m.gguf
          verba quantize --type q4_0 smollm2-f16.gguf smollm2-q4_0.gguf
          verba quantize --type q8_0 downloads/minilm minilm-q8_0.gguf && verba embed --model minilm-q8_0.gguf
          verba perplexity --model smollm2-q8_0.gguf < text.txt
        """)

    @Option(name: .long, help: "File type: \(GGUFFileType.allCases.map(\.rawValue).joined(separator: ", ")).")
    var type: String

    @Argument(help: "The model: a Hugging Face folder or a GGUF file.")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Flag(name: .long, help: "No progress on standard error.")
    var quiet = false

    func validate() throws {
        guard GGUFFileType(rawValue: type.lowercased()) != nil else {
            throw ValidationError("--type must be one of \(GGUFFileType.allCases.map(\.rawValue).joined(separator: ", ")), not \(type)")
        }
    }

    func run() throws {
        let fileType = GGUFFileType(rawValue: type.lowercased())!
        let quiet = quiet
        try writeGGUF(from: input, to: output, type: fileType) { done, total, name, t in
            if !quiet { writeStandardError("[\(done + 1)/\(total)] \(name) → \(t)\n") }
        }
        if !quiet {
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            writeStandardError("wrote \(output) (\(fileType.rawValue), \(String(format: "%.1f", Double(size) / 1_048_576)) MiB)\n")
        }
    }
}
