import Foundation
@testable import VerbaModels

// Helpers shared by the decoder tests (GPT-2 and the Llama family).

/// Greedy generation through the KV cache (prefill, then one-token steps); with `stopAtEOS`, it stops
/// after an id the model lists as end of sequence, as transformers' `generate` does.
func greedy(_ model: any CausalLM, stopAtEOS: Bool = false, prompt: [Int], count: Int) throws -> [Int] {
    let cache = model.makeCache()
    var logits = try model.logits(for: prompt, cache: cache)
    var out: [Int] = []
    while out.count < count {
        let next = Sampler.argmax(logits)
        out.append(next)
        if (stopAtEOS && model.eosTokenIds.contains(next)) || out.count == count { break }
        logits = try model.logits(for: [next], cache: cache)
    }
    return out
}

/// A temporary copy of a model folder (without expected.json), with `edit` applied to its config.json.
func editedCopy(ofFolder folder: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("verba-model-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name != "expected.json" {
        try FileManager.default.copyItem(atPath: folder + "/" + name, toPath: dir.appendingPathComponent(name).path)
    }
    let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))
    var config = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    edit(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
    return dir.path
}
