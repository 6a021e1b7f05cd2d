// Loading a tokenizer from the files the field uses: tokenizer.json, a folder (tokenizer.json,
// vocab.json + merges.txt, vocab.txt), a tiktoken rank file, or a GGUF file's vocabulary.

import CVerbaSupport
import Foundation
import VerbaSupport

extension Tokenizer {
    /// Loads a tokenizer from `path`:
    /// - a Hugging Face `tokenizer.json` file;
    /// - a folder with `tokenizer.json`, or `tokenizer.model` (sentencepiece), or `vocab.json` +
    ///   `merges.txt` (GPT-2: byte-level BPE, GPT-2 split, no special tokens added), or `vocab.txt`
    ///   (BERT uncased, `[CLS] A [SEP]`);
    /// - a `.tiktoken` rank file, whose name (`r50k_base`, `p50k_base`, `cl100k_base`, `o200k_base`)
    ///   gives the split pattern and the special tokens (known as ids; text is encoded as tiktoken's
    ///   `encode_ordinary` does);
    /// - a GGUF file with a `tokenizer.ggml.*` vocabulary (`gpt2` or `bert`);
    /// - a sentencepiece `.model` file (BPE or Unigram, identity normalization), encoding as the
    ///   `sentencepiece` package does.
    ///
    /// `threads` above 1 lets a large `tokenizer.json` be read on two threads (see
    /// `fromTokenizerJSON(_:path:threads:)`): a command about to encode on several cores loads sooner.
    /// - Throws: `TokenizerError` naming the file and the problem.
    public static func load(path: String, threads: Int = 1) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.unreadable(path: path, reason: "no such file or folder")
        }
        if isDirectory.boolValue {
            let dir = URL(fileURLWithPath: path)
            func file(_ name: String) -> String? {
                let p = dir.appendingPathComponent(name).path
                return FileManager.default.fileExists(atPath: p) ? p : nil
            }
            if let json = file("tokenizer.json") {
                return try mappedTokenizerJSON(json, threads: threads) ?? fromTokenizerJSON(try readFile(json), path: json, threads: threads)
            }
            if let model = file("tokenizer.model") { return try fromSentencePieceModel(try readFile(model), path: model) }
            if let vocab = file("vocab.json"), let merges = file("merges.txt") {
                return try gpt2(vocabJSON: vocab, mergesTxt: merges)
            }
            if let vocab = file("vocab.txt") {
                var lowercase = true
                if let config = file("tokenizer_config.json"), let v = try? parseJSON(readFile(config)),
                   let lower = v["do_lower_case"]?.boolValue {
                    lowercase = lower
                }
                return try bert(vocabTxt: vocab, lowercase: lowercase)
            }
            throw TokenizerError.noTokenizerFiles(path: path)
        }
        if let gguf = try fromGGUFFile(path: path) { return gguf }   // mapped: a model file may be large
        if path.hasSuffix(".json"), let t = try mappedTokenizerJSON(path, threads: threads) { return t }
        let data = try readFile(path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        if data.starts(with: Array("GGUF".utf8)) { return try fromGGUF(data, path: path) }
        if name.hasSuffix(".tiktoken") { return try tiktoken(data, path: path) }
        if name == "vocab.txt" { return try bert(vocabTxt: path, lowercase: true) }
        if name.hasSuffix(".model") && !data.isEmpty { return try fromSentencePieceModel(data, path: path) }
        if let first = data.first(where: { $0 != 32 && $0 != 9 && $0 != 10 && $0 != 13 }), first == UInt8(ascii: "{") {
            return try fromTokenizerJSON(data, path: path, threads: threads)
        }
        if data.isEmpty { throw TokenizerError.malformed(path: path, reason: "the file is empty") }
        throw TokenizerError.malformed(path: path, reason: "not a tokenizer.json, .tiktoken, vocab.txt, sentencepiece .model or GGUF file")
    }

    /// Calls `body` with each line of `text`: its number (from 1) and its bytes without the "\n"; a
    /// last line without a newline counts, an empty text has no line.
    @inline(__always)
    static func forEachLine(_ text: UnsafeBufferPointer<UInt8>, _ body: (_ number: Int, _ line: Range<Int>) throws -> Void) rethrows {
        guard let base = text.baseAddress else { return }
        let n = text.count
        var start = 0
        var number = 0
        while start < n {
            let end = memchr(base + start, 0x0A, n - start).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? n
            number += 1
            try body(number, start ..< end)
            start = end + 1
        }
    }

    /// A tokenizer.json file, parsed where the file is mapped (a file of megabytes read into memory
    /// was that many pages zeroed, then copied into); nil when it is not a regular file that can be
    /// mapped or does not start with `{` (the caller then reads it and says what it is).
    static func mappedTokenizerJSON(_ path: String, threads: Int) throws -> Tokenizer? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size > 0 else { return nil }
        let size = Int(info.st_size)
        #if os(Linux)
        let flags = MAP_PRIVATE | MAP_POPULATE  // the whole file is read: its pages mapped in one call
        #else
        let flags = MAP_PRIVATE
        #endif
        guard let map = mmap(nil, size, PROT_READ, flags, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, size) }
        let text = UnsafeBufferPointer(start: map.assumingMemoryBound(to: UInt8.self), count: size)
        guard text.first(where: { $0 != 32 && $0 != 9 && $0 != 10 && $0 != 13 }) == UInt8(ascii: "{") else { return nil }
        return try fromTokenizerJSON(buffer: text, path: path, threads: threads)
    }

    /// The whole content of a file, read straight into the array (no intermediate `Data`: a second
    /// copy of a tokenizer file cost a tenth of loading it).
    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw TokenizerError.unreadable(path: path, reason: "cannot open the file: \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        let size = fstat(fd, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
        /// Reads into `p[0..<capacity]` until it is full or the file ends; the bytes read.
        func fill(_ p: UnsafeMutablePointer<UInt8>, _ capacity: Int) throws -> Int {
            var count = 0
            while count < capacity {
                let n = read(fd, p + count, capacity - count)
                if n == 0 { break }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw TokenizerError.unreadable(path: path, reason: errnoText())
                }
                count += n
            }
            return count
        }
        // The stated size plus one byte (reading nothing there proves the end), then more if it grew
        // or was not a regular file.
        var error: Error? = nil
        let first = size + 1
        var bytes = [UInt8](unsafeUninitializedCapacity: first) { buf, count in
            adviseHugePages(UnsafeMutableRawBufferPointer(buf))  // 900 fewer page faults for 3.5 MB
            do { count = try fill(buf.baseAddress!, first) } catch let e { error = e; count = 0 }
        }
        if let error { throw error }
        guard bytes.count == first else { return bytes }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBufferPointer { try fill($0.baseAddress!, $0.count) }
            bytes.append(contentsOf: chunk[..<n])
            if n < chunk.count { return bytes }
        }
    }

    // MARK: GPT-2 folder

    /// GPT-2's `vocab.json` + `merges.txt`: byte-level BPE with GPT-2's split, nothing added.
    public static func gpt2(vocabJSON: String, mergesTxt: String) throws -> Tokenizer {
        var strings = ByteStringTable.PackedKeys()
        do {
            let text = try readFile(vocabJSON)
            let read = try text.withUnsafeBufferPointer { buffer in
                var parser = JSONParser(bytes: buffer)
                guard try parser.readVocabulary(into: &strings) else { return false }
                parser.skipSpace()
                if parser.pos < buffer.count { throw parser.failure("unexpected text after the JSON value") }
                return true
            }
            if !read {  // not an object of ids: the JSON reader says what is wrong
                _ = try TokenizerJSONReader(path: vocabJSON).vocab(try parseJSON(text))
            }
        } catch let e as JSONParseError {
            throw TokenizerError.malformed(path: vocabJSON, reason: e.message)
        }
        let merges = try readFile(mergesTxt).withUnsafeBufferPointer { try readMergesTxt($0, path: mergesTxt) }
        let model = try BPE(vocabularyStrings: strings, merges: merges, options: BPE.Options(byteLevel: true), path: mergesTxt)
        let pre = ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true, trimOffsets: true)
        return Tokenizer(normalizer: nil, preTokenizer: pre, model: model,
                         postProcessor: ByteLevelProcessing(trimOffsets: false, addPrefixSpace: true),
                         decoder: ByteLevelDecoder(), byteLevel: true, addPrefixSpace: false,
                         preTokenizerJSON: byteLevelJSON(addPrefixSpace: false, useRegex: true))
    }

    static func byteLevelJSON(addPrefixSpace: Bool, useRegex: Bool) -> JSONValue {
        .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                 ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
    }

    // MARK: BERT

    /// BERT's `vocab.txt` with the defaults of `BertTokenizerFast`.
    public static func bert(vocabTxt path: String, lowercase: Bool = true) throws -> Tokenizer {
        let model = try WordPiece(vocabTxtPath: path)
        return try bert(model: model, lowercase: lowercase, path: path)
    }

    /// A BERT pipeline around a WordPiece model: BertNormalizer, BertPreTokenizer, `[CLS] A [SEP]`.
    static func bert(model: WordPiece, lowercase: Bool, path: String) throws -> Tokenizer {
        guard let cls = model.tokenToId("[CLS]"), let sep = model.tokenToId("[SEP]") else {
            throw TokenizerError.malformed(path: path, reason: "the vocabulary has no [CLS] or [SEP]")
        }
        let added = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { t in
            model.tokenToId(t).map { AddedToken(content: t, id: $0, special: true, normalized: false) }
        }.sorted { $0.id < $1.id }
        let post = TemplateProcessing(
            single: [.special(name: "[CLS]", typeId: 0), .sequence(isB: false, typeId: 0), .special(name: "[SEP]", typeId: 0)],
            pair: [.special(name: "[CLS]", typeId: 0), .sequence(isB: false, typeId: 0), .special(name: "[SEP]", typeId: 0),
                   .sequence(isB: true, typeId: 1), .special(name: "[SEP]", typeId: 1)],
            specialTokens: [("[CLS]", .init(ids: [cls], tokens: ["[CLS]"])), ("[SEP]", .init(ids: [sep], tokens: ["[SEP]"]))])
        let normalizer = BertNormalizer(cleanText: true, handleChineseChars: true, stripAccents: nil, lowercase: lowercase)
        return Tokenizer(normalizer: normalizer, preTokenizer: BertPreTokenizer(), model: model, postProcessor: post,
                         decoder: WordPieceDecoder(prefix: "##", cleanup: true), addedTokens: added, byteLevel: false,
                         normalizerJSON: .object([("type", .string("BertNormalizer")), ("clean_text", .bool(true)),
                                                  ("handle_chinese_chars", .bool(true)), ("strip_accents", .null),
                                                  ("lowercase", .bool(lowercase))]),
                         preTokenizerJSON: .object([("type", .string("BertPreTokenizer"))]))
    }

    // MARK: tiktoken

    /// tiktoken's special tokens by encoding name.
    static let tiktokenSpecials: [String: [(String, Int)]] = [
        "gpt2": [("<|endoftext|>", 50256)],
        "r50k_base": [("<|endoftext|>", 50256)],
        "p50k_base": [("<|endoftext|>", 50256)],
        "p50k_edit": [("<|endoftext|>", 50256), ("<|fim_prefix|>", 50281), ("<|fim_middle|>", 50282), ("<|fim_suffix|>", 50283)],
        "cl100k_base": [("<|endoftext|>", 100257), ("<|fim_prefix|>", 100258), ("<|fim_middle|>", 100259),
                        ("<|fim_suffix|>", 100260), ("<|endofprompt|>", 100276)],
        "o200k_base": [("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)],
    ]

    /// A tiktoken rank file; the file name's stem is the encoding name.
    static func tiktoken(_ data: [UInt8], path: String) throws -> Tokenizer {
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        guard let pattern = SplitPattern(tiktokenEncoding: stem), let specials = tiktokenSpecials[stem] else {
            throw TokenizerError.unsupported(path: path, what: "tiktoken encoding \"\(stem)\": name the file r50k_base, p50k_base, p50k_edit, cl100k_base or o200k_base .tiktoken")
        }
        let model = try BPE(tiktokenData: data, path: path)
        let added = specials.map { AddedToken(content: $0.0, id: $0.1, special: true, normalized: false) }
        let preJSON: JSONValue = .object([("type", .string("Sequence")), ("pretokenizers", .array([
            .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern.hfRegex))])),
                     ("behavior", .string("Isolated")), ("invert", .bool(false))]),
            byteLevelJSON(addPrefixSpace: false, useRegex: false),
        ]))])
        return Tokenizer(normalizer: nil, preTokenizer: PatternSplitter(pattern), model: model, postProcessor: nil,
                         decoder: ByteLevelDecoder(), addedTokens: added, encodeSpecialTokens: true, byteLevel: true,
                         preTokenizerJSON: preJSON)
    }
}

/// Runs `first` on this thread and `second` on a new thread at the same time; both results, errors
/// included, once both are done. For loading work that splits in two: a thread costs tens of
/// microseconds (a thread of its own: Dispatch's pool took up to milliseconds to start its first),
/// so the halves should take milliseconds. If no thread can be started, `second` runs after `first`.
func inParallel<A, B>(_ first: () throws -> A, _ second: () throws -> B) -> (Result<A, Error>, Result<B, Error>) {
    var b: Result<B, Error>? = nil
    let a: Result<A, Error> = withoutActuallyEscaping(second) { second in
        let job = ThreadJob { b = Result { try second() } }
        #if os(Linux)
        var thread = pthread_t()
        #else
        var thread: pthread_t?  // a non-optional pointer on Darwin
        #endif
        let started = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<ThreadJob>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(job).toOpaque()) == 0
        let a = Result { try first() }
        if started {
            #if os(Linux)
            pthread_join(thread, nil)
            #else
            if let thread { pthread_join(thread, nil) }
            #endif
        } else {
            Unmanaged.passUnretained(job).release()  // the retain the thread would have taken over
            job.body()
        }
        return a
    }
    guard let b else { preconditionFailure("the second half did not run") }
    return (a, b)
}

/// The work `inParallel` hands its thread.
private final class ThreadJob {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
