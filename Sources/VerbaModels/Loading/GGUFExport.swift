// Writing GGUF model files, as `verba quantize` does: from a Hugging Face folder (Llama family or GPT-2)
// with the tensor names, metadata, permutations and tokenizer metadata llama.cpp's convert_hf_to_gguf.py
// writes; or from a GGUF file (its metadata kept, its tensors re-encoded). The type of each tensor is the
// one llama.cpp's llama-quantize picks for the file type (llama-quant.cpp):
//   - only matrices whose name ends in "weight" are quantized; norms, biases, position and token-type
//     embeddings and `rope_freqs` stay float32;
//   - the LM head (or the token embedding when it is tied) gets Q6_K unless the file type is Q8_0;
//   - Q4_K_M: attn_v (or GPT-2's attn_qkv) and ffn_down get Q6_K in the layers `useMoreBits` picks;
//   - a row that is not a whole number of blocks falls back: Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0,
//     and to F16 when even 32-value blocks do not fit.
import Foundation
import VerbaSupport
import VerbaTensor
import VerbaTokenizers

/// The file types `verba quantize` writes (llama.cpp's `llama_ftype` names).
///
/// ```swift
/// try writeGGUF(from: "models/SmolLM2-135M", to: "smollm2-q8_0.gguf", type: .q8_0)
/// let model = try loadCausalLM(gguf: "smollm2-q8_0.gguf")
/// ```
public enum GGUFFileType: String, Sendable, CaseIterable {
    case f32, f16, bf16
    case q8_0 = "q8_0", q4_0 = "q4_0", q4_K_M = "q4_k_m"

    /// `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`).
    var fileTypeId: Int {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q8_0: 7
        case .q4_K_M: 15
        case .bf16: 32
        }
    }

    /// The type of the matrices before llama-quantize's per-tensor rules.
    var baseType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q4_K_M: .q4_K
        }
    }
}

/// A tensor to write: its GGUF name and shape (outermost first) and its float32 values in that layout.
struct ExportTensor {
    let name: String
    let shape: [Int]
    let load: () throws -> FloatTensor
}

/// What is exported: the metadata (without `general.file_type`) and the tensors in order.
struct ExportSource {
    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [ExportTensor]
    var layerCount: Int
}

/// Writes the model at `input` (a Hugging Face folder or a GGUF file) to the GGUF file `output` as
/// `type`, atomically; `progress(done, total, name, type)` is called before each tensor.
/// - Throws: `ModelError`/`GGUFError` naming the file for what cannot be read or written, an architecture
///   or tokenizer the writer does not handle, or a type without a quantizer.
public func writeGGUF(from input: String, to output: String, type: GGUFFileType,
                      progress: ((_ done: Int, _ total: Int, _ tensor: String, _ type: String) -> Void)? = nil) throws {
    let source = isGGUFFile(input) ? try ggufSource(input) : try folderSource(input)
    var metadata = source.metadata.filter { $0.key != "general.file_type" && $0.key != "general.quantization_version" && $0.key != "general.alignment" }
    metadata.append(("general.file_type", .int(Int64(type.fileTypeId), .uint32)))
    metadata.append(("general.quantization_version", .int(2, .uint32)))
    var chooser = QuantTypeChooser(fileType: type, layerCount: source.layerCount, tensors: source.tensors)
    let chosen = source.tensors.map { chooser.type(for: $0) }
    for t in Set(chosen) where !t.isSupported {
        throw GGUFError.unsupported(path: output, what: "tensor type \(t.name) for writing")
    }
    let out = zip(source.tensors, chosen).map { tensor, t in
        GGUFOutputTensor(name: tensor.name, type: t, shape: tensor.shape) { write in
            let values = try tensor.load()
            precondition(values.shape == tensor.shape, "writeGGUF: \(tensor.name) loaded with shape \(values.shape)")
            let cols = tensor.shape.last!, rows = values.count / max(cols, 1)
            let rowBytes = t.rowBytes(columns: cols)
            let chunkRows = max(1, (1 << 20) / max(rowBytes, 1))
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkRows * rowBytes, alignment: 64)
            defer { buffer.deallocate() }
            var r = 0
            while r < rows {
                let n = min(chunkRows, rows - r)
                for i in 0..<n { quantizeRow(t, values.pointer + (r + i) * cols, buffer + i * rowBytes, count: cols) }
                try write(UnsafeRawBufferPointer(start: buffer, count: n * rowBytes))
                r += n
            }
        }
    }
    do {
        try GGUFWriter.write(to: output, metadata: metadata, tensors: out) { i, t in
            progress?(i, out.count, t.name, t.type.name)
        }
    } catch let e as GGUFWriteError {
        throw ModelError.unwritable(path: output, reason: e.reason)
    }
}

/// llama-quantize's choice of type per tensor (see the top of this file), with its counters of attn_v
/// and ffn_down tensors seen so far.
struct QuantTypeChooser {
    let fileType: GGUFFileType
    let layerCount: Int
    let tiedEmbedding: Bool
    let attentionVCount: Int
    var attentionV = 0, ffnDown = 0

    init(fileType: GGUFFileType, layerCount: Int, tensors: [ExportTensor]) {
        self.fileType = fileType
        self.layerCount = layerCount
        tiedEmbedding = !tensors.contains { $0.name == "output.weight" }
        attentionVCount = tensors.filter { $0.name.contains("attn_v.weight") || $0.name.contains("attn_qkv.weight") }.count
    }

    static func useMoreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }

    mutating func type(for tensor: ExportTensor) -> GGMLType {
        let name = tensor.name
        let quantizable = tensor.shape.count >= 2 && name.hasSuffix("weight") && !name.contains("_norm.weight")
            && name != "position_embd.weight" && name != "token_types.weight"
        guard quantizable else { return .f32 }
        let base = fileType.baseType
        guard base.isQuantized else { return base }
        var t = base
        let cols = tensor.shape.last!
        if name == "output.weight" || (tiedEmbedding && name == "token_embd.weight") {
            t = cols % base.blockSize != 0 ? .q8_0 : base != .q8_0 ? .q6_K : .q8_0
        } else if name.contains("attn_v.weight") || name.contains("attn_qkv.weight") {
            if fileType == .q4_K_M && QuantTypeChooser.useMoreBits(attentionV, attentionVCount) { t = .q6_K }
            attentionV += 1
        } else if name.contains("ffn_down") {
            if fileType == .q4_K_M && QuantTypeChooser.useMoreBits(ffnDown, layerCount) { t = .q6_K }
            ffnDown += 1
        }
        if cols % t.blockSize != 0 {
            switch t {
            case .q4_K: t = .q5_0
            case .q5_K: t = .q5_1
            case .q6_K: t = .q8_0
            default: break
            }
            if cols % t.blockSize != 0 { t = .f16 }
        }
        return t
    }
}

// MARK: - Sources

/// A GGUF file's metadata and tensors (dequantized to float32 when re-encoded).
private func ggufSource(_ path: String) throws -> ExportSource {
    let g = try GGUFModelFile(path: path)
    let tensors = g.file.names.map { name -> ExportTensor in
        let info = g.file.tensors[name]!
        return ExportTensor(name: name, shape: info.shape) { try g.file.floats(info) }
    }
    return ExportSource(metadata: g.header.metadata, tensors: tensors, layerCount: try g.header.int(g.key("block_count"), atLeast: 1))
}

/// A Hugging Face folder as llama.cpp's converter writes it.
private func folderSource(_ folder: String) throws -> ExportSource {
    let configPath = (folder as NSString).appendingPathComponent("config.json")
    let json = try ConfigJSON(path: configPath)
    let names = try json.optionalStringArray("architectures") ?? []
    if try json.optionalString("model_type") == "bert" { return try bertSource(folder) }
    let weights = try ModelWeights(folder: folder)
    let tokenizerPath = (folder as NSString).appendingPathComponent("tokenizer.json")
    guard FileManager.default.fileExists(atPath: tokenizerPath) else {
        throw ModelError.unreadable(path: tokenizerPath, reason: "no such file (a GGUF file carries the tokenizer.json vocabulary)")
    }
    var addBOS: Bool?
    let tokenizerConfig = (folder as NSString).appendingPathComponent("tokenizer_config.json")
    if FileManager.default.fileExists(atPath: tokenizerConfig) {
        addBOS = try ConfigJSON(path: tokenizerConfig)["add_bos_token"]?.boolValue
    }
    let name = (folder as NSString).lastPathComponent
    func general(_ arch: String) -> [(key: String, value: GGUFValue)] {
        [("general.architecture", .string(arch)), ("general.type", .string("model")), ("general.name", .string(name))]
    }
    func u32(_ v: Int) -> GGUFValue { .int(Int64(v), .uint32) }
    func f32(_ v: Double) -> GGUFValue { .float(v, .float32) }
    func plain(_ hf: String, _ gguf: String, _ shape: [Int]) -> ExportTensor {
        ExportTensor(name: gguf, shape: shape) { try weights.tensor(hf, shape: shape) }
    }

    let modelType = try json.optionalString("model_type")
    if names.contains("GPT2LMHeadModel") || (names.isEmpty && modelType == "gpt2") {
        let config = try GPT2Config(path: configPath)
        let c = config.embeddingSize, inner = config.innerSize
        let prefix = weights.has("transformer.wte.weight") ? "transformer." : ""
        var meta = general("gpt2") + [
            ("gpt2.block_count", u32(config.layerCount)), ("gpt2.context_length", u32(config.contextLength)),
            ("gpt2.embedding_length", u32(c)), ("gpt2.feed_forward_length", u32(inner)),
            ("gpt2.attention.head_count", u32(config.headCount)),
            ("gpt2.attention.layer_norm_epsilon", f32(Double(config.layerNormEpsilon))),
        ]
        meta += try Tokenizer.ggufMetadata(tokenizerJSON: tokenizerPath, bos: config.bosTokenId, eos: config.eosTokenId, addBOS: addBOS,
                                               rows: config.vocabSize)
        /// A Conv1D weight (in, out) written (out, in), as the converter transposes it.
        func conv(_ hf: String, _ gguf: String, _ inSize: Int, _ outSize: Int) -> ExportTensor {
            ExportTensor(name: gguf, shape: [outSize, inSize]) {
                let w = try weights.tensor(prefix + hf, shape: [inSize, outSize])
                let t = FloatTensor(shape: [outSize, inSize])
                for i in 0..<inSize { for o in 0..<outSize { t.pointer[o * inSize + i] = w.pointer[i * outSize + o] } }
                return t
            }
        }
        var tensors = [plain(prefix + "wte.weight", "token_embd.weight", [config.vocabSize, c]),
                       plain(prefix + "wpe.weight", "position_embd.weight", [config.contextLength, c])]
        for l in 0..<config.layerCount {
            let p = prefix + "h.\(l).", g = "blk.\(l)."
            tensors += [
                plain(p + "ln_1.weight", g + "attn_norm.weight", [c]), plain(p + "ln_1.bias", g + "attn_norm.bias", [c]),
                conv("h.\(l).attn.c_attn.weight", g + "attn_qkv.weight", c, 3 * c), plain(p + "attn.c_attn.bias", g + "attn_qkv.bias", [3 * c]),
                conv("h.\(l).attn.c_proj.weight", g + "attn_output.weight", c, c), plain(p + "attn.c_proj.bias", g + "attn_output.bias", [c]),
                plain(p + "ln_2.weight", g + "ffn_norm.weight", [c]), plain(p + "ln_2.bias", g + "ffn_norm.bias", [c]),
                conv("h.\(l).mlp.c_fc.weight", g + "ffn_up.weight", c, inner), plain(p + "mlp.c_fc.bias", g + "ffn_up.bias", [inner]),
                conv("h.\(l).mlp.c_proj.weight", g + "ffn_down.weight", inner, c), plain(p + "mlp.c_proj.bias", g + "ffn_down.bias", [c]),
            ]
        }
        tensors += [plain(prefix + "ln_f.weight", "output_norm.weight", [c]), plain(prefix + "ln_f.bias", "output_norm.bias", [c])]
        if !config.tieWordEmbeddings, weights.has("lm_head.weight") {
            tensors.append(plain("lm_head.weight", "output.weight", [config.vocabSize, c]))
        }
        return ExportSource(metadata: meta, tensors: tensors, layerCount: config.layerCount)
    }

    let config = try LlamaConfig(path: configPath)
    let arch: String
    switch config.architecture {
    case .llama: arch = "llama"
    case .qwen2: arch = "qwen2"
    case .qwen3: arch = "qwen3"
    case .mistral: arch = "llama"
    }
    if config.slidingWindows.contains(where: { $0 != nil }) {
        throw ModelError.unsupported(path: configPath, what: "sliding-window attention for GGUF (llama.cpp's llama architecture has none)")
    }
    let c = config.hiddenSize, hd = config.headSize, inner = config.intermediateSize
    var meta = general(arch) + [
        ("\(arch).block_count", u32(config.layerCount)), ("\(arch).context_length", u32(config.maxPositions)),
        ("\(arch).embedding_length", u32(c)), ("\(arch).feed_forward_length", u32(inner)),
        ("\(arch).attention.head_count", u32(config.headCount)), ("\(arch).attention.head_count_kv", u32(config.kvHeadCount)),
        ("\(arch).rope.freq_base", f32(config.ropeTheta)),
        ("\(arch).attention.layer_norm_rms_epsilon", f32(Double(config.rmsNormEpsilon))),
        ("\(arch).attention.key_length", u32(hd)), ("\(arch).attention.value_length", u32(hd)),
    ]
    if arch == "llama" { meta += [("llama.vocab_size", u32(config.vocabSize)), ("llama.rope.dimension_count", u32(hd))] }
    var tensors: [ExportTensor] = []
    switch config.ropeScaling {
    case .none, .dynamic: break
    case let .linear(factor):
        meta += [("\(arch).rope.scaling.type", .string("linear")), ("\(arch).rope.scaling.factor", f32(factor))]
    case let .factors(divisors):
        tensors.append(ExportTensor(name: "rope_freqs.weight", shape: [hd / 2]) { FloatTensor(shape: [hd / 2], values: divisors) })
    case let .llama3(factor, low, high, original):
        // The converter stores Llama 3.1's scaling as a divisor per frequency, computed as here.
        // (in float32 throughout, as PyTorch evaluates it there).
        let divisors = (0..<(hd / 2)).map { i -> Float in
            let freq: Float = 1 / powf(Float(config.ropeTheta), Float(2 * i) / Float(hd))
            let wavelength: Float = Float(2 * Double.pi) / freq
            if wavelength < Float(Double(original) / high) { return 1 }
            if wavelength > Float(Double(original) / low) { return Float(factor) }
            let smooth: Float = (Float(original) / wavelength - Float(low)) / Float(high - low)
            return 1 / ((1 - smooth) / Float(factor) + smooth)
        }
        tensors.append(ExportTensor(name: "rope_freqs.weight", shape: [hd / 2]) { FloatTensor(shape: [hd / 2], values: divisors) })
    }
    meta += try Tokenizer.ggufMetadata(tokenizerJSON: tokenizerPath, bos: config.bosTokenId, eos: config.eosTokenIds.first, addBOS: addBOS,
                                           rows: config.vocabSize)

    /// Q/K rows permuted per head into llama.cpp's interleaved RoPE order (llama only).
    func roped(_ hf: String, _ gguf: String, _ shape: [Int], heads: Int) -> ExportTensor {
        guard arch == "llama" else { return plain(hf, gguf, shape) }
        return ExportTensor(name: gguf, shape: shape) {
            let w = try weights.tensor(hf, shape: shape)
            let rows = shape[0], rowLength = w.count / rows, half = rows / heads / 2
            let t = FloatTensor(shape: shape)
            for h in 0..<heads { for i in 0..<2 { for j in 0..<half {
                let from = h * 2 * half + i * half + j, to = h * 2 * half + 2 * j + i
                (t.pointer + to * rowLength).update(from: w.pointer + from * rowLength, count: rowLength)
            } } }
            return t
        }
    }
    let q = config.headCount * hd, kv = config.kvHeadCount * hd
    tensors.insert(plain("model.embed_tokens.weight", "token_embd.weight", [config.vocabSize, c]), at: 0)
    for l in 0..<config.layerCount {
        let p = "model.layers.\(l).", g = "blk.\(l)."
        tensors.append(plain(p + "input_layernorm.weight", g + "attn_norm.weight", [c]))
        tensors.append(roped(p + "self_attn.q_proj.weight", g + "attn_q.weight", [q, c], heads: config.headCount))
        tensors.append(roped(p + "self_attn.k_proj.weight", g + "attn_k.weight", [kv, c], heads: config.kvHeadCount))
        tensors.append(plain(p + "self_attn.v_proj.weight", g + "attn_v.weight", [kv, c]))
        tensors.append(plain(p + "self_attn.o_proj.weight", g + "attn_output.weight", [c, q]))
        if config.qkvBias {
            tensors.append(roped(p + "self_attn.q_proj.bias", g + "attn_q.bias", [q], heads: config.headCount))
            tensors.append(roped(p + "self_attn.k_proj.bias", g + "attn_k.bias", [kv], heads: config.kvHeadCount))
            tensors.append(plain(p + "self_attn.v_proj.bias", g + "attn_v.bias", [kv]))
        }
        if config.outputBias { tensors.append(plain(p + "self_attn.o_proj.bias", g + "attn_output.bias", [c])) }
        if config.qkNorm {
            tensors.append(plain(p + "self_attn.q_norm.weight", g + "attn_q_norm.weight", [hd]))
            tensors.append(plain(p + "self_attn.k_norm.weight", g + "attn_k_norm.weight", [hd]))
        }
        tensors.append(plain(p + "post_attention_layernorm.weight", g + "ffn_norm.weight", [c]))
        tensors.append(plain(p + "mlp.gate_proj.weight", g + "ffn_gate.weight", [inner, c]))
        tensors.append(plain(p + "mlp.up_proj.weight", g + "ffn_up.weight", [inner, c]))
        tensors.append(plain(p + "mlp.down_proj.weight", g + "ffn_down.weight", [c, inner]))
        if config.mlpBias {
            tensors.append(plain(p + "mlp.gate_proj.bias", g + "ffn_gate.bias", [inner]))
            tensors.append(plain(p + "mlp.up_proj.bias", g + "ffn_up.bias", [inner]))
            tensors.append(plain(p + "mlp.down_proj.bias", g + "ffn_down.bias", [c]))
        }
    }
    tensors.append(plain("model.norm.weight", "output_norm.weight", [c]))
    if !config.tieWordEmbeddings { tensors.append(plain("lm_head.weight", "output.weight", [config.vocabSize, c])) }
    return ExportSource(metadata: meta, tensors: tensors, layerCount: config.layerCount)
}

/// A Hugging Face BERT folder (or a sentence-transformers folder holding one) as llama.cpp's converter
/// writes it: architecture `bert`, Q, K and V separate, the pooling of the sentence-transformers layout.
private func bertSource(_ folder: String) throws -> ExportSource {
    let layout = try SentenceTransformerLayout(folder: folder)
    let modelFolder = layout.modelFolder
    let configPath = (modelFolder as NSString).appendingPathComponent("config.json")
    let json = try ConfigJSON(path: configPath)
    let config = try BertConfig(json: json)
    let weights = try ModelWeights(folder: modelFolder)
    let vocab = (modelFolder as NSString).appendingPathComponent("vocab.txt")
    guard FileManager.default.fileExists(atPath: vocab) else {
        throw ModelError.unreadable(path: vocab, reason: "no such file (a BERT GGUF carries the vocab.txt vocabulary)")
    }
    let c = config.hiddenSize, inner = config.intermediateSize
    func u32(_ v: Int) -> GGUFValue { .int(Int64(v), .uint32) }
    var meta: [(key: String, value: GGUFValue)] = [
        ("general.architecture", .string("bert")), ("general.type", .string("model")),
        ("general.name", .string((folder as NSString).lastPathComponent)),
        ("bert.block_count", u32(config.layerCount)), ("bert.context_length", u32(config.maxPositions)),
        ("bert.embedding_length", u32(c)), ("bert.feed_forward_length", u32(inner)),
        ("bert.attention.head_count", u32(config.headCount)),
        ("bert.attention.layer_norm_epsilon", .float(Double(config.layerNormEps), .float32)),
        ("bert.attention.causal", .bool(false)),
    ]
    if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("modules.json")) {
        switch layout.pooling {
        case .mean: meta.append(("bert.pooling_type", u32(1)))
        case .cls: meta.append(("bert.pooling_type", u32(2)))
        case .max: throw ModelError.unsupported(path: folder, what: "max pooling for GGUF (llama.cpp pools with mean, CLS or the last token)")
        }
    }
    meta += try Tokenizer.ggufBertMetadata(vocabTxt: vocab, typeCount: config.typeVocabSize, padding: try json.optionalInt("pad_token_id") ?? 0)
    let t = BertTensorNames(weights)
    func plain(_ hf: String, _ gguf: String, _ shape: [Int]) -> ExportTensor {
        ExportTensor(name: gguf, shape: shape) { try t.tensor(hf, shape) }
    }
    var tensors = [
        plain("embeddings.LayerNorm.bias", "token_embd_norm.bias", [c]), plain("embeddings.LayerNorm.weight", "token_embd_norm.weight", [c]),
        plain("embeddings.position_embeddings.weight", "position_embd.weight", [config.maxPositions, c]),
        plain("embeddings.token_type_embeddings.weight", "token_types.weight", [config.typeVocabSize, c]),
        plain("embeddings.word_embeddings.weight", "token_embd.weight", [config.vocabSize, c]),
    ]
    for l in 0..<config.layerCount {
        let p = "encoder.layer.\(l).", g = "blk.\(l)."
        for (hf, gg, rows, cols) in [("attention.output.LayerNorm", "attn_output_norm", c, 0), ("attention.output.dense", "attn_output", c, c),
                                     ("attention.self.key", "attn_k", c, c), ("attention.self.query", "attn_q", c, c),
                                     ("attention.self.value", "attn_v", c, c), ("intermediate.dense", "ffn_up", inner, c),
                                     ("output.LayerNorm", "layer_output_norm", c, 0), ("output.dense", "ffn_down", c, inner)] {
            tensors.append(plain(p + hf + ".bias", g + gg + ".bias", [rows]))
            tensors.append(plain(p + hf + ".weight", g + gg + ".weight", cols == 0 ? [rows] : [rows, cols]))
        }
    }
    return ExportSource(metadata: meta, tensors: tensors, layerCount: config.layerCount)
}
