// Reading a BPE vocabulary and its merges straight from file bytes (tokenizer.json's `model.vocab` and
// `model.merges`, GPT-2's vocab.json and merges.txt) into packed UTF-8 tables: no JSON document and
// no Swift String per token. Building 150,000 Strings, hashing them into a dictionary and freeing them
// again was most of the time it took to load GPT-2's tokenizer.json.

extension BPE {
    /// A Hugging Face BPE model from its vocabulary strings in file order (`strings`; ids as read) and
    /// its merges. A vocabulary the tables cannot hold exactly — an id given twice, a string given
    /// twice (the later id wins, as in Hugging Face), an empty string, ill-formed UTF-8 — is built
    /// through a dictionary, as `init(vocab:merges:options:path:)` does.
    /// - Throws: as `init(vocab:merges:options:path:)`.
    convenience init(vocabularyStrings strings: ByteStringTable.PackedKeys, merges: PackedMerges, options: Options,
                     path: String, threads: Int = 1) throws {
        var maxId = -1
        for (k, id) in strings.ids.enumerated() {
            guard id < 1 << 24 else {   // ids size tables: real vocabularies are far below 2^24
                let s = String(decoding: strings.bytes[strings.starts[k]..<strings.starts[k + 1]], as: UTF8.self)
                throw TokenizerError.malformed(path: path, reason: "token \"\(s)\" has id \(id)")
            }
            maxId = max(maxId, id)
        }
        var seen = [Bool](repeating: false, count: maxId + 1)
        var regular = true
        strings.bytes.withUnsafeBufferPointer { all in
            for k in 0..<strings.count {
                let id = strings.ids[k]
                let utf8 = UnsafeBufferPointer(rebasing: all[strings.starts[k]..<strings.starts[k + 1]])
                if seen[id] || utf8.isEmpty || !isValidUTF8(utf8) {
                    regular = false
                    return
                }
                seen[id] = true
            }
        }
        if regular {
            do {
                let parts = try BPE.parts(strings: strings, count: maxId + 1, aliases: [:], merges: merges,
                                          options: options, path: path, requireDistinct: true, threads: threads)
                self.init(parts: parts)
                return
            } catch BPELoadingIrregular.repeatedString {}
        }
        try self.init(vocab: strings.dictionary, packedMerges: merges, options: options, path: path)
    }
}

/// Thrown by `BPE.parts` when asked for distinct strings and a string repeats.
enum BPELoadingIrregular: Error {
    case repeatedString
}

extension JSONParser {
    /// Reads the object at `pos`, string -> non-negative integer id, into `strings` (UTF-8, in file
    /// order); false if the value is not such an object (a caller then reads it as a JSON value, to say
    /// what is wrong).
    /// - Throws: `JSONParseError` for malformed JSON.
    mutating func readVocabulary(into strings: inout ByteStringTable.PackedKeys) throws -> Bool {
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "{") else { return false }
        pos += 1
        skipSpace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") { pos += 1; return true }
        // Room for what the rest of the text holds at about 16 bytes an entry (GPT-2's has 23; a
        // vocabulary of shorter entries grows the tables by copying), so they do not grow by copying;
        // pages never written cost nothing but address space.
        strings.reserve(count: (bytes.count - pos) / 16, bytes: bytes.count - pos)
        while true {
            skipSpace()
            guard pos < bytes.count else { throw failure("") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            try withString { strings.bytes.append(contentsOf: $0) }
            skipSpace()
            guard pos < bytes.count else { throw failure("") }
            guard bytes[pos] == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
            pos += 1
            skipSpace()
            let value = pos < bytes.count && (48...57).contains(bytes[pos]) ? try parseNumber() : try parseValue(depth: 2)
            guard let id = value.intValue, id >= 0 else { return false }
            strings.starts.append(strings.bytes.count)
            strings.ids.append(id)
            skipSpace()
            guard pos < bytes.count else { throw failure("") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return true }
            throw failure("expected ',' or '}' in an object")
        }
    }

    /// Reads the list at `pos` of merges, each `"a b"` or `["a", "b"]`, into `merges`; false if the
    /// value is not such a list (a caller then reads it as a JSON value, to say what is wrong).
    /// - Throws: `JSONParseError` for malformed JSON.
    mutating func readMerges(into merges: inout PackedMerges) throws -> Bool {
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "[") else { return false }
        pos += 1
        skipSpace()
        if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") { pos += 1; return true }
        merges.reserve(textBytes: bytes.count - pos)
        var first: [UInt8] = []
        while true {
            skipSpace()
            guard pos < bytes.count else { throw failure("") }
            if bytes[pos] == UInt8(ascii: "\""), let (space, end) = JSONParser.plainMerge(bytes, at: pos) {
                // "a b" without escapes, read in one pass: the tokens are where they lie in the text.
                guard let space else { return false }
                merges.append(UnsafeBufferPointer(rebasing: bytes[(pos + 1)..<space]),
                              UnsafeBufferPointer(rebasing: bytes[(space + 1)..<end]))
                pos = end + 1
            } else if bytes[pos] == UInt8(ascii: "\"") {
                let split = try withString { s -> Bool in
                    guard let (a, b) = splitMerge(s) else { return false }
                    merges.append(a, b)
                    return true
                }
                if !split { return false }
            } else if bytes[pos] == UInt8(ascii: "[") {
                // ["a", "b"] exactly. A string without escapes is used where it lies in the text.
                pos += 1
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { return false }
                var plainFirst: Range<Int>? = nil
                if let (_, end) = JSONParser.plainMerge(bytes, at: pos) {
                    plainFirst = (pos + 1)..<end
                    pos = end + 1
                } else {
                    try withString { first.removeAll(keepingCapacity: true); first.append(contentsOf: $0) }
                }
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ",") else { return false }
                pos += 1
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { return false }
                let text = bytes  // not self: withString below has it borrowed
                func append(_ b: UnsafeBufferPointer<UInt8>) {
                    if let plainFirst { merges.append(UnsafeBufferPointer(rebasing: text[plainFirst]), b) }
                    else { first.withUnsafeBufferPointer { merges.append($0, b) } }
                }
                if let (_, end) = JSONParser.plainMerge(bytes, at: pos) {
                    append(UnsafeBufferPointer(rebasing: bytes[(pos + 1)..<end]))
                    pos = end + 1
                } else {
                    try withString { append($0) }
                }
                skipSpace()
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: "]") else { return false }
                pos += 1
            } else {
                return false
            }
            skipSpace()
            guard pos < bytes.count else { throw failure("") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return true }
            throw failure("expected ',' or ']' in an array")
        }
    }
}

extension JSONParser {
    /// The string at `start` (its opening quote) when it has no escape and no control character:
    /// the position of its space if it has exactly one (else nil), and of its closing quote. Nil when
    /// the string needs `withString`.
    /// Static, on the text alone: a method copied the whole parser for every string.
    private static func plainMerge(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int) -> (space: Int?, end: Int)? {
        var i = start + 1, space = -1, spaces = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { return (spaces == 1 ? space : nil, i) }
            if c == UInt8(ascii: "\\") || c < 0x20 { return nil }
            if c == 0x20 {
                spaces += 1
                space = i
            }
            i += 1
        }
        return nil
    }
}

/// Reads GPT-2's merges.txt: one merge "a b" per line, an optional "#version" first line, empty lines
/// skipped, "\r\n" line ends accepted.
/// - Throws: `TokenizerError.malformed` naming `path` and the line of a line that is not valid UTF-8
///   or not two tokens separated by one space.
func readMergesTxt(_ text: UnsafeBufferPointer<UInt8>, path: String) throws -> PackedMerges {
    var merges = PackedMerges()
    var start = 0
    var line = 0
    while start < text.count {
        var end = start
        while end < text.count && text[end] != 0x0A { end += 1 }
        line += 1
        var stop = end
        if stop > start && text[stop - 1] == 0x0D { stop -= 1 }
        let l = UnsafeBufferPointer(rebasing: text[start..<stop])
        start = end + 1
        guard isValidUTF8(l) else { throw TokenizerError.malformed(path: path, reason: "line \(line) is not valid UTF-8") }
        if l.isEmpty || (line == 1 && l.starts(with: "#version".utf8)) { continue }
        guard let (a, b) = splitMerge(l) else {
            throw TokenizerError.malformed(path: path, reason: "line \(line) is not two tokens separated by one space")
        }
        merges.append(a, b)
    }
    return merges
}
