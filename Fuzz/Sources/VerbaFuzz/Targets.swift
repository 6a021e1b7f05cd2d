// The fuzz targets: one per file reader (the bytes are the file), and one per tokenizer family that
// encodes and decodes arbitrary bytes with its properties checked (Properties.swift). Readers that
// only take a path get the bytes through a scratch file. Asset paths are relative to the repository
// root, where scripts/fuzz.sh runs the binary.

import Foundation
@testable import VerbaModels
@testable import VerbaTensor
@testable import VerbaTokenizers

struct FuzzTarget {
    let name: String
    var setUp: () -> Void = {}
    let run: ([UInt8]) -> Void
}

let fuzzTargets: [FuzzTarget] = [
    // Readers: an error is the expected answer to most inputs; what a loaded tokenizer does next is checked.
    FuzzTarget(name: "tokenizer-json") { bytes in
        guard let t = try? Tokenizer.fromTokenizerJSON(bytes, path: "fuzz/tokenizer.json") else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "vocab-txt") { bytes in
        let path = scratchFile("vocab.txt", bytes)
        guard let t = try? Tokenizer.bert(vocabTxt: path) else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "vocab-json-merges") { bytes in
        // vocab.json, a NUL byte, then merges.txt.
        let cut = bytes.firstIndex(of: 0) ?? bytes.count
        let vocab = scratchFile("vocab.json", Array(bytes[..<cut]))
        let merges = scratchFile("merges.txt", cut < bytes.count ? Array(bytes[(cut + 1)...]) : [])
        guard let t = try? Tokenizer.gpt2(vocabJSON: vocab, mergesTxt: merges) else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "tiktoken") { bytes in
        guard let t = try? Tokenizer.tiktoken(bytes, path: "fuzz/cl100k_base.tiktoken") else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "gguf-vocab") { bytes in
        guard let t = try? Tokenizer.fromGGUF(bytes, path: "fuzz.gguf") else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "gguf-model") { bytes in
        // The container (every tensor converted or dequantized), then the model on it, then one token.
        let path = scratchFile("model.gguf", bytes)
        guard let file = try? GGUFFile(path: path) else { return }
        for name in file.names {
            guard let info = file.info(name) else { continue }
            if let t = try? file.floats(info) { check(t.count == info.shape.reduce(1, *), "\(name): \(t.count) floats") }
        }
        guard let model = try? loadCausalLM(gguf: path, maxContext: 16) else { return }
        _ = try? model.logits(for: [0], cache: model.makeCache())
    },
    FuzzTarget(name: "spm-model") { bytes in
        guard let t = try? Tokenizer.fromSentencePieceModel(bytes, path: "fuzz.model") else { return }
        exercise(t, sample)
    },
    FuzzTarget(name: "safetensors") { bytes in
        let path = scratchFile("model.safetensors", bytes)
        guard let file = try? SafeTensorsFile(path: path) else { return }
        for name in file.names {
            guard let info = try? file.info(name), let raw = try? file.rawBytes(name) else { continue }
            check(raw.count == info.byteRange.count, "\(name): \(raw.count) bytes for range \(info.byteRange)")
            check(8 + info.byteRange.upperBound <= bytes.count + file.dataOffset, "\(name): range past the file")
            if let t = try? file.floats(name) { check(t.count == info.count, "\(name): \(t.count) floats for \(info.count)") }
        }
    },
    FuzzTarget(name: "config-json") { bytes in
        let path = scratchFile("config.json", bytes)
        _ = try? BertConfig(path: path)
        _ = try? GPT2Config(path: path)
        _ = try? LlamaConfig(path: path)
        if let c = try? ConfigJSON(path: path) { _ = try? c.labels() }
    },
    FuzzTarget(name: "chat-template") { bytes in
        // The template, a NUL byte, then the messages as JSON (a fixed conversation when absent).
        let cut = bytes.firstIndex(of: 0) ?? bytes.count
        let source = String(decoding: bytes[..<cut], as: UTF8.self)
        let messages = cut < bytes.count ? String(decoding: bytes[(cut + 1)...], as: UTF8.self)
            : #"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}]"#
        guard let template = try? ChatTemplate(source, bosToken: "<s>", eosToken: "</s>") else { return }
        _ = try? template.render(messagesText: messages, addGenerationPrompt: true)
    },
    // Request bodies of `verba serve` (HTTPBody.swift).
    httpBodyTarget,
    // Tokenizer families: arbitrary bytes encoded, then decoded; ids from the bytes decoded.
    encodeTarget("encode-bytelevel-bpe", "Tests/Fixtures/gpt2-small/tokenizer.json", roundTrip: true),
    encodeTarget("encode-tiktoken", "downloads/tiktoken/cl100k_base.tiktoken", roundTrip: true),
    encodeTarget("encode-wordpiece", "downloads/minilm/tokenizer.json", roundTrip: false),
    encodeTarget("encode-unigram", "Tests/Fixtures/spm-bpe/spm-unigram.model", roundTrip: false),
    encodeTarget("encode-spm-bpe", "Tests/Fixtures/spm-bpe/spm.model", roundTrip: false),
]

/// Text every loaded tokenizer encodes: letters, digits, spaces, punctuation, accents, CJK, emoji.
let sample: [UInt8] = Array("Hello,  world! 123 ça va? 日本語 🙂\n\tend".utf8)

/// A target that loads the tokenizer at `path` once and checks `exercise` on every input.
func encodeTarget(_ name: String, _ path: String, roundTrip: Bool) -> FuzzTarget {
    var tokenizer: Tokenizer? = nil
    return FuzzTarget(name: name, setUp: {
        // Without padding and truncation (MiniLM's pads to 128), which the fast id path does not apply.
        do { tokenizer = try Tokenizer.load(path: path).with(truncation: nil, padding: nil) } catch {
            FileHandle.standardError.write(Data("verba-fuzz: \(name) needs \(path): \(error)\n".utf8))
            exit(2)
        }
    }, run: { bytes in
        guard let tokenizer else { return }
        exercise(tokenizer, bytes, roundTrip: roundTrip)
    })
}

/// A file in this process's scratch folder holding `bytes`, for readers that take a path.
func scratchFile(_ name: String, _ bytes: [UInt8]) -> String {
    let path = scratchFolder + "/" + name
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot create \(path)")
    defer { close(fd) }
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        precondition(n > 0, "cannot write \(path)")
        written += n
    }
    return path
}

let scratchFolder: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/verba-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()
