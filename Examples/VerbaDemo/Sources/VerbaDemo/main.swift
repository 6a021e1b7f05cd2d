// Verba as a library: load a tokenizer, encode and decode, embed a sentence, stream a generation.
//
//   swift run VerbaDemo TOKENIZER EMBEDDER_FOLDER GPT2_FOLDER
//   swift run VerbaDemo ../../downloads/gpt2-124m ../../downloads/minilm ../../downloads/gpt2-124m
import VerbaModels
import VerbaTokenizers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 3 else {
    print("usage: VerbaDemo TOKENIZER EMBEDDER_FOLDER GPT2_FOLDER")
    exit(2)
}
let tokenizerPath = arguments[arguments.startIndex]
let embedderFolder = arguments[arguments.startIndex + 1]
let gpt2Folder = arguments[arguments.startIndex + 2]

do {
    // A tokenizer: a tokenizer.json, a folder, a .tiktoken file or a GGUF file.
    let tokenizer = try Tokenizer.load(path: tokenizerPath)
    let text = "Verba tokenizes, embeds and generates on the CPU."
    let encoding = try tokenizer.encode(text)
    let decoded = tokenizer.decode(encoding.ids, skipSpecialTokens: true)
    print("ids: \(encoding.ids.map(String.init).joined(separator: " "))")
    print("tokens: \(encoding.tokens.joined(separator: " "))")
    print("decoded: \(decoded)")
    guard decoded == text else {
        print("error: decoding did not give the text back")
        exit(1)
    }

    // A sentence embedding (sentence-transformers folder: pooling and normalisation as it says).
    let embedder = try Embedder(folder: embedderFolder)
    let vector = try embedder.embed(["A sentence to embed."])[0]
    let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    print("embedding: \(vector.count) dimensions, norm \(norm), first \(vector.prefix(3).map { String($0) }.joined(separator: " "))")

    // A greedy generation, streamed: each piece of text as soon as it is decoded.
    let generator = try TextGenerator(folder: gpt2Folder)
    let options = GenerationOptions(maxTokens: 16, sampling: SamplingParameters(temperature: 0))
    var pieces = 0
    print("generation: ", terminator: "")
    for try await piece in generator.stream(prompt: "The quick brown fox", options: options) {
        pieces += 1
        print(piece, terminator: "")
        fflush(nil)  // every output stream: the piece shows at once
    }
    let ids = try generator.promptIds("The quick brown fox")
    print("\nstreamed \(pieces) pieces after a prompt of \(ids.count) tokens")
} catch {
    print("error: \(error)")
    exit(1)
}
