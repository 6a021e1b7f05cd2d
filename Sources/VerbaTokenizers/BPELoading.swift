// Building BPE models: from a Hugging Face vocabulary + merges, from tiktoken ranks, and parsing the
// .tiktoken rank file format (one "base64-token rank" pair per line).

import Foundation

extension BPE {
    /// A Hugging Face BPE model from its vocabulary (token string -> id) and merges (in rank order,
    /// rank = index; a pair listed twice keeps its later rank, as `tokenizers` does).
    ///
    /// For byte-level models (`options.byteLevel`) vocabulary strings are decoded with `ByteLevel`;
    /// strings that are not byte-level (added tokens such as "\n") stay in the vocabulary for
    /// `tokenToId`/`idToToken` but pieces never match them.
    /// - Throws: `TokenizerError.malformed` naming `path` for a negative id or a merge whose tokens (or
    ///   merged token) are missing; `.unsupported` for dropout > 0, or a byte-level prefix/suffix that
    ///   is not spelled in byte characters.
    public convenience init(vocab: [String: Int], merges: [(String, String)], options: Options = Options(),
                            path: String = "BPE") throws {
        if let d = options.dropout, d > 0 { throw TokenizerError.unsupported(path: path, what: "BPE dropout \(d)") }
        var maxId = -1
        var tokens: [String?] = []
        for (s, id) in vocab {
            guard id >= 0, id < 1 << 30 else { throw TokenizerError.malformed(path: path, reason: "token \(quoted(s)) has id \(id)") }
            maxId = max(maxId, id)
        }
        tokens = [String?](repeating: nil, count: maxId + 1)
        // By id, then string: each entry put at its id, unless an id repeats (then a sort).
        let pairs = Array(vocab)
        var at = [Int32](repeating: -1, count: maxId + 1)
        var repeated = false
        for (k, e) in pairs.enumerated() {
            if at[e.value] >= 0 { repeated = true; break }
            at[e.value] = Int32(k)
        }
        let ordered = repeated ? vocab.sorted(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) })
                               : at.compactMap { $0 >= 0 ? pairs[Int($0)] : nil }
        // The model's keys (token bytes), and the vocabulary strings' UTF-8 bytes: the merges name their
        // tokens by string and are looked up there, faster than hashing Swift Strings (150k lookups were
        // a tenth of the load); a string that table cannot give (two strings with one id) falls back to
        // the dictionary.
        var keys = ByteStringTable.PackedKeys()
        var stringKeys = ByteStringTable.PackedKeys()
        for (s, id) in ordered {
            tokens[id] = s
            let bytes = options.byteLevel ? ByteLevel.decode(s) : nil
            var s = s
            s.withUTF8 { utf8 in
                stringKeys.append(id: id, utf8)
                if let bytes {
                    bytes.withUnsafeBufferPointer { keys.append(id: id, $0) }
                } else {
                    keys.append(id: id, utf8, lookup: !options.byteLevel)  // byte-level but not bytes: never matched
                }
            }
        }
        let byString = ByteStringTable(count: maxId + 1, keys: stringKeys)
        func id(of s: String) -> Int? {
            var s = s
            let found = s.withUTF8 { b in b.baseAddress.map { byString.find($0, b.count) } ?? -1 }
            return found >= 0 ? found : vocab[s]
        }
        func affix(_ s: String?, _ what: String) throws -> [UInt8] {
            guard let s, !s.isEmpty else { return [] }
            if !options.byteLevel { return Array(s.utf8) }
            guard let b = ByteLevel.decode(s) else {
                throw TokenizerError.unsupported(path: path, what: "byte-level \(what) \(quoted(s))")
            }
            return b
        }
        let prefix = try affix(options.continuingSubwordPrefix, "continuing_subword_prefix")
        let suffix = try affix(options.endOfWordSuffix, "end_of_word_suffix")
        let prefixLength = options.continuingSubwordPrefix?.utf8.count ?? 0
        var pairEntries: [(a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)] = []
        pairEntries.reserveCapacity(merges.count)
        var joined: [UInt8] = []
        for (rank, (a, b)) in merges.enumerated() {
            guard let ia = id(of: a) else { throw mergeError(path, rank, a) }
            guard let ib = id(of: b) else { throw mergeError(path, rank, b) }
            // The merged token: a, then b without its continuing-subword prefix.
            var a = a, b = b
            joined.removeAll(keepingCapacity: true)
            a.withUTF8 { joined.append(contentsOf: $0) }
            let tailValid = b.withUTF8 { bb -> Bool in
                guard bb.count >= prefixLength else { return false }
                let tail = UnsafeBufferPointer(rebasing: bb[prefixLength...])
                joined.append(contentsOf: tail)
                return prefixLength == 0 || String(validating: tail, as: UTF8.self) != nil
            }
            guard tailValid else {
                throw TokenizerError.malformed(path: path, reason: "merge \(rank + 1): \(quoted(b)) lacks the continuing-subword prefix")
            }
            var im = byString.find(joined)
            if im < 0 {
                let merged = String(decoding: joined, as: UTF8.self)
                guard let found = vocab[merged] else { throw mergeError(path, rank, merged) }
                im = found
            }
            pairEntries.append((UInt32(ia), UInt32(ib), UInt32(rank), UInt32(im)))
        }
        let table = ByteStringTable(count: maxId + 1, keys: keys)
        self.init(parts: Parts(options: options, vocabSize: maxId + 1, isTiktoken: false, table: table,
                               pairs: PairTable(pairEntries), vocab: vocab, tokens: tokens, prefix: prefix, suffix: suffix))
    }

    /// A tiktoken model from its mergeable ranks (token bytes -> rank = id). Every single byte must
    /// have a rank, as tiktoken requires.
    /// - Throws: `TokenizerError.malformed` naming `path` for a negative or huge rank or a missing byte.
    public convenience init(tiktokenRanks: [[UInt8]: Int], path: String = "tiktoken ranks") throws {
        var keys = ByteStringTable.PackedKeys()
        for (bytes, rank) in tiktokenRanks.sorted(by: { $0.value < $1.value }) {
            guard rank >= 0 else {
                throw TokenizerError.malformed(path: path, reason: "token \(ByteLevel.encode(bytes)) has rank \(rank)")
            }
            bytes.withUnsafeBufferPointer { keys.append(id: rank, $0) }
        }
        try self.init(rankKeys: keys, path: path)
    }

    /// A tiktoken model from the contents of a `.tiktoken` rank file.
    /// - Throws: `TokenizerError.malformed` with the line number of a bad line.
    public convenience init(tiktokenData data: [UInt8], path: String) throws {
        try self.init(rankKeys: try BPE.parseTiktokenKeys(data, path: path), path: path)
    }

    /// A tiktoken model read from a `.tiktoken` rank file.
    /// - Throws: `TokenizerError.unreadable` if the file cannot be read, `.malformed` for bad content.
    public convenience init(tiktokenFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.unreadable(path: path, reason: "no such file or not readable")
        }
        try self.init(tiktokenData: [UInt8](data), path: path)
    }

    /// A tiktoken model from its tokens with their ranks as ids.
    convenience init(rankKeys keys: ByteStringTable.PackedKeys, path: String) throws {
        var maxRank = -1
        for (k, r) in keys.ids.enumerated() {
            guard r < 1 << 26 else {
                let token = Array(keys.bytes[keys.starts[k]..<keys.starts[k + 1]])
                throw TokenizerError.malformed(path: path, reason: "token \(ByteLevel.encode(token)) has rank \(r)")
            }
            maxRank = max(maxRank, r)
        }
        let table = ByteStringTable(count: maxRank + 1, keys: keys)
        for b in 0..<256 where table.find([UInt8(b)]) < 0 {
            throw TokenizerError.malformed(path: path, reason: "no rank for the single byte 0x\(String(b, radix: 16, uppercase: true))")
        }
        self.init(parts: Parts(options: Options(byteLevel: true, ignoreMerges: true), vocabSize: maxRank + 1,
                               isTiktoken: true, table: table, pairs: nil))
    }

    /// Parses a `.tiktoken` rank file: lines of "base64-token rank"; empty lines are skipped; a token
    /// listed twice keeps its later rank.
    /// - Throws: `TokenizerError.malformed` naming `path` and the line number of a bad line.
    public static func parseTiktoken(_ data: [UInt8], path: String) throws -> [[UInt8]: Int] {
        let keys = try parseTiktokenKeys(data, path: path)
        var ranks: [[UInt8]: Int] = [:]
        for k in 0..<keys.count { ranks[Array(keys.bytes[keys.starts[k]..<keys.starts[k + 1]])] = keys.ids[k] }
        return ranks
    }

    /// Parses a `.tiktoken` rank file into packed keys (id = rank), decoding each token's base64 straight
    /// into the key bytes: no array per line.
    /// - Throws: `TokenizerError.malformed` naming `path` and the line number of a bad line.
    static func parseTiktokenKeys(_ data: [UInt8], path: String) throws -> ByteStringTable.PackedKeys {
        var keys = ByteStringTable.PackedKeys()
        keys.bytes.reserveCapacity(data.count / 2)
        keys.starts.reserveCapacity(data.count / 10)
        keys.ids.reserveCapacity(data.count / 10)
        try data.withUnsafeBufferPointer { buffer in
            guard let d = buffer.baseAddress else { return }
            let n = buffer.count
            var lineNo = 0
            var i = 0
            while i < n {
                lineNo += 1
                let e = memchr(d + i, 0x0A, n - i).map { d.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? n
                var lineEnd = e
                if lineEnd > i && d[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                defer { i = e + 1 }
                // Fields separated by spaces or tabs (the first two kept, the rest counted).
                var fields = (0..<0, 0..<0)
                var fieldCount = 0
                var j = i
                while j < lineEnd {
                    while j < lineEnd && (d[j] == 0x20 || d[j] == 0x09) { j += 1 }
                    let s = j
                    while j < lineEnd && d[j] != 0x20 && d[j] != 0x09 { j += 1 }
                    if j > s {
                        if fieldCount == 0 { fields.0 = s..<j } else if fieldCount == 1 { fields.1 = s..<j }
                        fieldCount += 1
                    }
                }
                if fieldCount == 0 { continue }
                guard fieldCount == 2 else {
                    throw TokenizerError.malformed(path: path, reason: "line \(lineNo): expected \"<base64 token> <rank>\", found \(fieldCount) fields")
                }
                guard decodeBase64(UnsafeBufferPointer(rebasing: buffer[fields.0]), appendingTo: &keys.bytes) else {
                    throw TokenizerError.malformed(path: path, reason: "line \(lineNo): invalid base64 token")
                }
                var rank = 0
                for k in fields.1 {
                    let digit = d[k]
                    guard digit >= 0x30, digit <= 0x39, rank < 1 << 40 else {
                        throw TokenizerError.malformed(path: path, reason: "line \(lineNo): invalid rank")
                    }
                    rank = rank * 10 + Int(digit - 0x30)
                }
                keys.starts.append(keys.bytes.count)
                keys.ids.append(rank)
            }
        }
        return keys
    }

    /// Decodes strict standard base64 `s` and appends the bytes to `out`; false (and `out` unchanged)
    /// if `s` is not valid base64.
    static func decodeBase64(_ s: UnsafeBufferPointer<UInt8>, appendingTo out: inout [UInt8]) -> Bool {
        guard s.count % 4 == 0, !s.isEmpty else { return false }
        let padding = s[s.count - 1] == 0x3D ? (s[s.count - 2] == 0x3D ? 2 : 1) : 0
        let digits = s.count - padding
        let start = out.count
        var acc: UInt32 = 0, bits = 0
        let table = base64Values
        for i in 0..<digits {
            let v = table[Int(s[i])]
            if v == 0xFF {  // not a base64 digit ('=' inside included)
                out.removeLast(out.count - start)
                return false
            }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        if out.count - start != s.count / 4 * 3 - padding {
            out.removeLast(out.count - start)
            return false
        }
        return true
    }
}

/// Value of each byte as a base64 digit, 0xFF for a byte that is not one.
private let base64Values: [UInt8] = {
    var t = [UInt8](repeating: 0xFF, count: 256)
    for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { t[Int(c)] = UInt8(i) }
    return t
}()

private func quoted(_ s: String) -> String {
    "\"" + s.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "\""
}

private func mergeError(_ path: String, _ rank: Int, _ token: String) -> TokenizerError {
    .malformed(path: path, reason: "merge \(rank + 1): token \(quoted(token)) is not in the vocabulary")
}
