// Training checkpoints (parameters + AdamW moments + step, one safetensors file written atomically)
// and the export of a trained GPT as a Hugging Face GPT2LMHeadModel folder.
import Foundation
import VerbaSupport
import VerbaTensor

/// The state a run needs to continue exactly where it stopped.
package enum TrainingCheckpoint {
    /// Writes parameters, AdamW moments and `step` (optimizer steps done) to `path` atomically
    /// (temporary file, fsync, rename): a kill during the write leaves the previous checkpoint intact.
    package static func save(model: FlatParameterModel, optimizer: AdamW, step: Int, kind: String,
                            configJSON: String, to path: String) throws {
        let n = model.parameterCount
        let tensors: [(name: String, tensor: FloatTensor, dtype: DType)] = [
            ("params", FloatTensor(borrowing: model.parameters, shape: [n], owner: nil), .f32),
            ("adam.m", FloatTensor(borrowing: optimizer.m, shape: [n], owner: nil), .f32),
            ("adam.v", FloatTensor(borrowing: optimizer.v, shape: [n], owner: nil), .f32),
        ]
        let metadata = ["format": "verba-checkpoint", "kind": kind, "step": String(step),
                        "adam_step": String(optimizer.step), "config": configJSON]
        try SafeTensorsWriter.write(tensors, metadata: metadata, to: path)
    }

    /// Restores a checkpoint into `model` and `optimizer`; returns the step it was taken at. Throws when
    /// the file is not a checkpoint of the same kind and configuration.
    package static func load(model: FlatParameterModel, optimizer: AdamW, kind: String, configJSON: String,
                            from path: String) throws -> Int {
        let file = try SafeTensorsFile(path: path)
        guard file.metadata["format"] == "verba-checkpoint", file.metadata["kind"] == kind else {
            throw ModelError.malformed(path: path, reason: "not a verba \(kind) checkpoint")
        }
        guard file.metadata["config"] == configJSON else {
            throw ModelError.malformed(path: path, reason: "checkpoint was made with another model configuration "
                                       + "(\(file.metadata["config"] ?? "none")); use the same options to resume")
        }
        guard let step = Int(file.metadata["step"] ?? ""), let adamStep = Int(file.metadata["adam_step"] ?? "") else {
            throw ModelError.malformed(path: path, reason: "checkpoint has no step")
        }
        let n = model.parameterCount
        for (name, dest) in [("params", model.parameters), ("adam.m", optimizer.m), ("adam.v", optimizer.v)] {
            let t = try file.floats(name, shape: [n])
            dest.update(from: t.pointer, count: n)
        }
        optimizer.step = adamStep
        return step
    }
}

/// A config object as JSON text with sorted keys (stable, diff-friendly config files). Values are
/// strings, booleans, integers, floating-point numbers, `NSNull`, and arrays and objects of those.
func jsonText(_ object: [String: Any]) throws -> String {
    String(decoding: try jsonValue(object).serialized(), as: UTF8.self) + "\n"
}

/// `value` (built from Swift literals) as a `JSONValue`; objects get sorted keys.
private func jsonValue(_ value: Any) throws -> JSONValue {
    switch value {
    case is NSNull: return .null
    case let b as Bool: return .bool(b)
    case let i as Int: return .int(i)
    case let d as Double: return .double(d)
    case let f as Float: return .double(Double(f))
    case let s as String: return .string(s)
    case let a as [Any]: return .array(try a.map(jsonValue))
    case let o as [String: Any]: return .object(try o.keys.sorted().map { ($0, try jsonValue(o[$0]!)) })
    default: throw ModelError.invalidInput("cannot write \(type(of: value)) as JSON")
    }
}

extension GPTTrainingConfig {
    /// The configuration as a compact JSON string (checkpoints compare it on resume).
    package var jsonSignature: String {
        "{\"vocab_size\":\(vocabSize),\"n_positions\":\(context),\"n_layer\":\(layers),\"n_head\":\(heads),\"n_embd\":\(dim)}"
    }
}

extension GPTTrainingModel {
    /// Writes `config.json` (model_type gpt2, GPT2LMHeadModel, gelu_new, tied embeddings) and
    /// `model.safetensors` (HF names, Conv1D layouts) into `folder`, creating it if needed.
    /// - Parameters:
    ///   - dtype: storage type of the weights (F32, or F16/BF16 to halve the size).
    ///   - bosId, eosId: the tokenizer's end-of-text id, when it has one.
    package func exportHuggingFace(to folder: String, dtype: DType = .f32, bosId: Int? = nil, eosId: Int? = nil,
                                  metadata: [String: String] = [:]) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var config: [String: Any] = [
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": self.config.vocabSize, "n_positions": self.config.context, "n_ctx": self.config.context,
            "n_embd": self.config.dim, "n_layer": self.config.layers, "n_head": self.config.heads,
            "n_inner": NSNull(), "activation_function": "gelu_new",
            "layer_norm_epsilon": Double(self.config.layerNormEps),
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
            "scale_attn_weights": true, "use_cache": true, "tie_word_embeddings": true,
            "torch_dtype": dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32",
        ]
        config["bos_token_id"] = bosId.map { $0 as Any } ?? NSNull()
        config["eos_token_id"] = eosId.map { $0 as Any } ?? NSNull()
        let tensors = huggingFaceTensors().map { t in
            (name: t.name, tensor: FloatTensor(shape: t.shape, values: t.values), dtype: dtype)
        }
        var meta = metadata
        meta["format"] = "pt"
        try SafeTensorsWriter.write(tensors, metadata: meta, to: folder + "/model.safetensors")
        try writeAtomically(Data(try jsonText(config).utf8), to: folder + "/config.json")
    }

    /// Loads a model folder written by `exportHuggingFace` (or any GPT-2 safetensors of the same shape)
    /// into a training model, e.g. to compare the trainer's forward with inference.
    package static func loadHuggingFace(folder: String) throws -> GPTTrainingModel {
        let config = try ConfigJSON(path: folder + "/config.json")
        let cfg = GPTTrainingConfig(vocabSize: try config.int("vocab_size"), context: try config.int("n_positions"),
                                    layers: try config.int("n_layer"), heads: try config.int("n_head"),
                                    dim: try config.int("n_embd"),
                                    layerNormEps: Float(try config.double("layer_norm_epsilon", default: 1e-5)))
        let model = try GPTTrainingModel(config: cfg, seed: 0)
        let path = folder + "/model.safetensors"
        let file = try SafeTensorsFile(path: path)
        try model.loadHuggingFace(from: path) { name in
            guard file.tensors[name] != nil else { return nil }
            let t = try file.floats(name)
            return (t.shape, t.toArray())
        }
        return model
    }
}
