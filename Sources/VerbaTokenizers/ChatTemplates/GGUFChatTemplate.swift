// A GGUF file carries its chat template in the metadata (`tokenizer.chat_template`, written by
// llama.cpp's converter from tokenizer_config.json) with the ids of its BOS and EOS tokens.
import VerbaSupport

extension ChatTemplate {
    /// The template of a GGUF file: `tokenizer.chat_template`, with `bos_token` and `eos_token` the
    /// texts of `tokenizer.ggml.bos_token_id` and `eos_token_id`.
    /// - Throws: `ChatTemplateError.config` when the file cannot be read, is not a GGUF file or holds no
    ///   template; the parser's errors for the template itself.
    ///
    /// ```swift
    /// let template = try ChatTemplate(ggufFile: "qwen2.5-0.5b-instruct-q8_0.gguf")
    /// ```
    public init(ggufFile path: String) throws {
        let found: (source: String?, bos: String?, eos: String?)?
        do {
            found = try withMappedGGUFFile(path: path) { bytes in
                let header = try GGUFHeader(bytes, path: path, tensorInfos: false)
                let source = try header.optionalString("tokenizer.chat_template")
                guard source != nil else { return (nil, nil, nil) }
                let tokens = try header.optionalStrings("tokenizer.ggml.tokens") ?? []
                func token(_ key: String) throws -> String? {
                    guard let id = try header.optionalInt(key), id < tokens.count else { return nil }
                    return tokens[id]
                }
                return (source, try token("tokenizer.ggml.bos_token_id"), try token("tokenizer.ggml.eos_token_id"))
            }
        } catch let error as GGUFError {
            throw ChatTemplateError.config(message: error.description)
        } catch {
            throw ChatTemplateError.config(message: "\(path): \(error)")
        }
        guard let found else { throw ChatTemplateError.config(message: "\(path): cannot read it as a GGUF file") }
        guard let source = found.source else {
            throw ChatTemplateError.config(message: "\(path): no tokenizer.chat_template in the GGUF metadata")
        }
        try self.init(source, bosToken: found.bos, eosToken: found.eos)
    }
}
