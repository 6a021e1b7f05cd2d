// The tokenizer vocabulary of a GGUF file (llama.cpp's format): only the header and the key/value
// metadata are read (by VerbaSupport's `GGUFHeader`, which checks every length against the file's size).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VerbaSupport

/// The `tokenizer.ggml.*` metadata of a GGUF file.
struct GGUFVocabulary {
    var model: String = ""
    var pre: String?
    var tokens: [String] = []
    var merges: [String] = []
    var tokenTypes: [Int] = []
    var scores: [Float] = []
    /// sentencepiece's normalization rules (`tokenizer.ggml.precompiled_charsmap`), empty when absent.
    var precompiledCharsmap: [UInt8] = []
    var ids: [String: Int] = [:]
    var flags: [String: Bool] = [:]

    /// Parses the metadata of `data` (the container is read by VerbaSupport's `GGUFHeader`); `path`
    /// names the file in errors.
    init(_ data: UnsafeRawBufferPointer, path: String) throws {
        let header: GGUFHeader
        do {
            header = try GGUFHeader(data, path: path, tensorInfos: false)
        } catch let e as GGUFError {
            throw e.tokenizerError
        }
        func fail(_ reason: String) -> TokenizerError { .malformed(path: path, reason: "GGUF: \(reason)") }
        do {
            model = try header.optionalString("tokenizer.ggml.model") ?? ""
            pre = try header.optionalString("tokenizer.ggml.pre")
            tokens = try header.optionalStrings("tokenizer.ggml.tokens") ?? []
            merges = try header.optionalStrings("tokenizer.ggml.merges") ?? []
            tokenTypes = try header.optionalInts("tokenizer.ggml.token_type") ?? []
            scores = (try header.optionalDoubles("tokenizer.ggml.scores") ?? []).map { Float($0) }
            precompiledCharsmap = (try header.optionalInts("tokenizer.ggml.precompiled_charsmap") ?? [])
                .map { UInt8(truncatingIfNeeded: $0) }
        } catch let e as GGUFError {
            throw e.tokenizerError
        }
        for (key, value) in header.metadata where key.hasPrefix("tokenizer.ggml.") {
            if case let .bool(b) = value { flags[key] = b } else if let v = value.intValue { ids[key] = v }
        }
        guard !model.isEmpty else { throw fail("no tokenizer.ggml.model: the file has no tokenizer vocabulary") }
        guard !tokens.isEmpty else { throw fail("no tokenizer.ggml.tokens") }
        if !tokenTypes.isEmpty && tokenTypes.count != tokens.count {
            throw fail("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        if !scores.isEmpty && scores.count != tokens.count {
            throw fail("tokenizer.ggml.scores has \(scores.count) entries for \(tokens.count) tokens")
        }
    }

    /// The boolean `tokenizer.ggml.<key>`, nil when absent.
    func flag(_ key: String) -> Bool? { flags["tokenizer.ggml." + key] }

    /// The type of token `i` (llama.cpp's: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
    /// 6 byte); normal when the file has no types.
    func type(_ i: Int) -> Int { tokenTypes.isEmpty ? 1 : tokenTypes[i] }

    func id(_ key: String) -> Int? {
        guard let v = ids["tokenizer.ggml." + key], v >= 0, v < tokens.count else { return nil }
        return v
    }
}

extension GGUFError {
    /// The same error as the tokenizers report it.
    var tokenizerError: TokenizerError {
        switch self {
        case let .unsupported(path, what): return .unsupported(path: path, what: what)
        case let .malformed(path, _), let .missingKey(path, _), let .wrongKeyType(path, _, _):
            let text = description
            let prefix = path + ": GGUF: "
            return .malformed(path: path, reason: "GGUF: " + (text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text))
        }
    }
}

extension Tokenizer {
    /// The vocabulary of the GGUF file at `path` read through a read-only mapping (a model file may be
    /// gigabytes; only its header is touched), or nil when the file does not start with "GGUF".
    static func fromGGUFFile(path: String) throws -> Tokenizer? {
        try withMappedGGUFFile(path: path) { bytes in
            try fromGGUF(GGUFVocabulary(bytes, path: path), path: path)
        }
    }
}

/// `body` over the bytes of `path` mapped read-only, when it is a regular file starting with "GGUF";
/// nil (and `body` not called) for anything else, or a file that cannot be opened.
func withMappedGGUFFile<T>(path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 4 else { return nil }
    var magic = [UInt8](repeating: 0, count: 4)
    guard pread(fd, &magic, 4, 0) == 4, magic == Array("GGUF".utf8) else { return nil }
    let size = Int(st.st_size)
    guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
        throw TokenizerError.unreadable(path: path, reason: "mmap: \(errnoText())")
    }
    defer { munmap(map, size) }
    return try body(UnsafeRawBufferPointer(start: map, count: size))
}
