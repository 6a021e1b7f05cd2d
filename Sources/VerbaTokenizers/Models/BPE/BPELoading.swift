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
    package convenience init(vocab: [String: Int], merges: [(String, String)], options: Options = Options(),
                            path: String = "BPE") throws {
        var packed = PackedMerges()
        for (a, b) in merges {
            var a = a, b = b
            a.withUTF8 { a in b.withUTF8 { b in packed.append(a, b) } }
        }
        try self.init(vocab: vocab, packedMerges: packed, options: options, path: path)
    }

    /// `init(vocab:merges:options:path:)` with the merges already packed.
    convenience init(vocab: [String: Int], packedMerges merges: PackedMerges, options: Options, path: String) throws {
        var maxId = -1
        for (s, id) in vocab {
            guard id >= 0, id < 1 << 24 else { throw TokenizerError.malformed(path: path, reason: "token \(quoted(s)) has id \(id) (ids are below 2^24)") }
            maxId = max(maxId, id)
        }
        // By id, then string: each entry put at its id, unless an id repeats (then a sort).
        let pairs = Array(vocab)
        var at = [Int32](repeating: -1, count: maxId + 1)
        var irregular = false
        for (k, e) in pairs.enumerated() {
            if at[e.value] >= 0 || e.key.isEmpty { irregular = true; break }
            at[e.value] = Int32(k)
        }
        let ordered = irregular ? vocab.sorted(by: { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) })
                                : at.compactMap { $0 >= 0 ? pairs[Int($0)] : nil }
        let strings = ByteStringTable.PackedKeys(ordered)
        // Two strings for one id, or an empty string: the table keeps one string per id and finds no
        // empty string, so the dictionary answers for the others.
        self.init(parts: try BPE.parts(strings: strings, count: maxId + 1, aliases: irregular ? vocab : [:],
                                       merges: merges, options: options, path: path))
    }

    /// The parts of a Hugging Face BPE model from its vocabulary strings as UTF-8 (`strings`, ids below
    /// `count`; a later string with the same id replaces an earlier one) and its merges. `aliases`
    /// answers string lookups the table cannot (see `BPE.aliases`).
    /// With `threads` above 1 the two halves of the merges are resolved at once.
    /// - Throws: `BPELoadingIrregular.repeatedString` if `requireDistinct` and a string repeats; else as
    ///   `init(vocab:merges:options:path:)`.
    static func parts(strings: ByteStringTable.PackedKeys, count: Int, aliases: [String: Int], merges: PackedMerges,
                      options: Options, path: String, requireDistinct: Bool = false, threads: Int = 1) throws -> Parts {
        if let d = options.dropout, d > 0 { throw TokenizerError.unsupported(path: path, what: "BPE dropout \(d)") }
        // The model's keys: the bytes a byte-level string spells (a string that is not byte-level is
        // kept but never matched), else the string's UTF-8.
        var keys = ByteStringTable.PackedKeys()
        keys.reserve(count: strings.count, bytes: strings.bytes.count)  // decoded bytes are no longer
        var hasString = [Bool](repeating: false, count: count)
        var decoded = [UInt8](repeating: 0, count: 64)
        strings.bytes.withUnsafeBufferPointer { all in
            for k in 0..<strings.count {
                let utf8 = UnsafeBufferPointer(rebasing: all[strings.starts[k]..<strings.starts[k + 1]])
                hasString[strings.ids[k]] = true
                if options.byteLevel {
                    if decoded.count < utf8.count { decoded = [UInt8](repeating: 0, count: utf8.count) }
                    if let n = decoded.withUnsafeMutableBufferPointer({ ByteLevel.decode(utf8: utf8, into: $0.baseAddress!) }) {
                        decoded.withUnsafeBufferPointer { keys.append(id: strings.ids[k], UnsafeBufferPointer(rebasing: $0[..<n])) }
                    } else {
                        keys.append(id: strings.ids[k], utf8, lookup: false)
                    }
                } else {
                    keys.append(id: strings.ids[k], utf8)
                }
            }
        }
        let table = ByteStringTable(count: count, keys: keys)
        if requireDistinct {
            // Distinct strings give distinct keys (bytes spell one string each); the strings that are
            // not byte-level are not in the table and are compared here.
            if table.replacedKeys > 0 { throw BPELoadingIrregular.repeatedString }
            if let lookup = keys.lookup {
                var seen = Set<ArraySlice<UInt8>>()
                for k in 0..<keys.count where !lookup[k] {
                    if !seen.insert(keys.bytes[keys.starts[k]..<keys.starts[k + 1]]).inserted { throw BPELoadingIrregular.repeatedString }
                }
            }
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
        // Merges name tokens by their strings. A byte-level model looks up the bytes they spell in the
        // model's own table, so the table of strings waits until something asks for a string; if a
        // merge does not resolve that way, or for other models, the strings are looked up.
        let vocabulary: VocabularyStrings
        let pairs: PairTable
        if options.byteLevel && prefix.isEmpty && suffix.isEmpty && aliases.isEmpty,
           let resolved = BPE.resolveMerges(merges, spelledIn: table, threads: threads) {
            vocabulary = VocabularyStrings(count: count, keys: strings)
            pairs = resolved
        } else {
            vocabulary = VocabularyStrings(options.byteLevel ? ByteStringTable(count: count, keys: strings) : table)
            if requireDistinct && vocabulary.table.replacedKeys > 0 { throw BPELoadingIrregular.repeatedString }
            pairs = PairTable(try BPE.resolveMerges(merges, strings: vocabulary.table, aliases: aliases,
                                                    prefixLength: options.continuingSubwordPrefix?.utf8.count ?? 0, path: path))
        }
        return Parts(options: options, vocabSize: count, isTiktoken: false, table: table,
                     pairs: pairs, strings: vocabulary, hasString: hasString,
                     aliases: aliases, merges: merges, prefix: prefix, suffix: suffix)
    }

    /// The merges of a byte-level model as a pair table (ids of the two tokens -> rank, id of the merged
    /// token): the tokens' strings decoded to bytes and found in the model's `table`; nil if one is not
    /// found. One thread fills the table as it resolves (no list of entries in between); with `threads`
    /// above 1 (and enough merges to pay for a thread) the two halves of the ranks are resolved at once.
    private static func resolveMerges(_ merges: PackedMerges, spelledIn table: ByteStringTable, threads: Int) -> PairTable? {
        let n = merges.count
        guard threads > 1 && n >= 10_000 else {
            let pairs = PairTable(capacity: n)
            let ok = resolveMerges(merges, ranks: 0..<n, spelledIn: table, prefetching: pairs) { a, b, rank, merged in
                pairs.insert(a, b, rank: rank, merged: merged)
            }
            return ok ? pairs : nil
        }
        typealias Entry = (a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)
        func half(_ ranks: Range<Int>) -> [Entry]? {
            var entries: [Entry] = []
            entries.reserveCapacity(ranks.count)
            let ok = resolveMerges(merges, ranks: ranks, spelledIn: table) { entries.append(($0, $1, $2, $3)) }
            return ok ? entries : nil
        }
        let (low, high) = inParallel({ half(0..<n / 2) }, { half(n / 2..<n) })
        guard case .success(let first?) = low, case .success(let second?) = high else { return nil }
        return PairTable(first + second)
    }

    /// `resolveMerges(_:spelledIn:threads:)` for the merges of `ranks`, in rank order, each entry
    /// handed to `emit` (ids of the two tokens, rank, id of the merged token); false if a token is
    /// not found. `pairs`: the table `emit` fills, whose slots are loaded ahead.
    private static func resolveMerges(_ merges: PackedMerges, ranks: Range<Int>, spelledIn table: ByteStringTable,
                                      prefetching pairs: PairTable? = nil,
                                      _ emit: (UInt32, UInt32, UInt32, UInt32) -> Void) -> Bool {
        // A block of merges at a time, in three passes: decode and hash the three tokens of each and
        // start loading their slots; find them (and start loading the pair's slot); emit them one block
        // later. The slots load together instead of one miss after another (the tables of a large
        // vocabulary are megabytes).
        let block = 16
        var scratch = [UInt8](repeating: 0, count: 4096)
        var keys = [(at: Int, na: Int, nb: Int, wa: UInt64, ha: UInt64, wb: UInt64, hb: UInt64, wm: UInt64, hm: UInt64)](
            repeating: (0, 0, 0, 0, 0, 0, 0, 0, 0), count: block)
        // The ids of the block being found, then (from `block` on) of the block waiting to be emitted.
        var found = [(a: Int, b: Int, m: Int)](repeating: (0, 0, 0), count: 2 * block)
        var waiting: Range<Int>? = nil
        var first = ranks.lowerBound
        while true {
            let last = min(first + block, ranks.upperBound)
            var at = 0
            for rank in first ..< last {
                let ok = merges.withMerge(rank) { a, b -> Bool in
                    if scratch.count < at + a.count + b.count { scratch += repeatElement(0, count: max(scratch.count, a.count + b.count)) }
                    return scratch.withUnsafeMutableBufferPointer { buffer -> Bool in
                        // The two tokens' bytes end to end: each one, then both (the merged token).
                        let p = buffer.baseAddress! + at
                        guard let na = ByteLevel.decode(utf8: a, into: p), let nb = ByteLevel.decode(utf8: b, into: p + na),
                              na > 0, nb > 0 else { return false }
                        let wa = firstWord(p, na), wb = firstWord(p + na, nb), wm = firstWord(p, na + nb)
                        let k = (at: at, na: na, nb: nb, wa: wa, ha: hashBytes(p, na, firstWord: wa), wb: wb,
                                 hb: hashBytes(p + na, nb, firstWord: wb), wm: wm, hm: hashBytes(p, na + nb, firstWord: wm))
                        table.prefetch(hash: k.ha)
                        table.prefetch(hash: k.hb)
                        table.prefetch(hash: k.hm)
                        keys[rank - first] = k
                        at += na + nb
                        return true
                    }
                }
                if !ok { return false }
            }
            let ok = scratch.withUnsafeBufferPointer { buffer -> Bool in
                for k in 0 ..< (last - first) {
                    let e = keys[k], p = buffer.baseAddress! + e.at
                    // Tokens are nearly always there: no filter first.
                    let ia = table.find(p, e.na, firstWord: e.wa, hash: e.ha, filtered: false)
                    let ib = table.find(p + e.na, e.nb, firstWord: e.wb, hash: e.hb, filtered: false)
                    let im = table.find(p, e.na + e.nb, firstWord: e.wm, hash: e.hm, filtered: false)
                    guard ia >= 0, ib >= 0, im >= 0 else { return false }
                    found[k] = (ia, ib, im)
                    pairs?.prefetch(UInt32(ia), UInt32(ib))
                }
                return true
            }
            if !ok { return false }
            if let waiting {
                for k in 0 ..< waiting.count {
                    let f = found[block + k]
                    emit(UInt32(f.a), UInt32(f.b), UInt32(waiting.lowerBound + k), UInt32(f.m))
                }
            }
            if first == last { return true }
            for k in 0 ..< (last - first) { found[block + k] = found[k] }
            waiting = first ..< last
            first = last
        }
    }

    /// Merge entries found by the tokens' strings (`aliases` for strings `strings` cannot give); the
    /// merged token is the first string, then the second without its `prefixLength` bytes of
    /// continuing-subword prefix.
    /// - Throws: `TokenizerError.malformed` naming `path` and the merge for a token not in the
    ///   vocabulary.
    private static func resolveMerges(_ merges: PackedMerges, strings: ByteStringTable, aliases: [String: Int],
                                      prefixLength: Int, path: String) throws -> [(a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)] {
        func id(_ s: UnsafeBufferPointer<UInt8>) -> Int? {
            let found = s.baseAddress.map { strings.find($0, s.count) } ?? -1
            return found >= 0 ? found : aliases[String(decoding: s, as: UTF8.self)]
        }
        var entries: [(a: UInt32, b: UInt32, rank: UInt32, merged: UInt32)] = []
        entries.reserveCapacity(merges.count)
        var joined: [UInt8] = []
        for rank in 0..<merges.count {
            try merges.withMerge(rank) { a, b in
                guard let ia = id(a) else { throw mergeError(path, rank, a) }
                guard let ib = id(b) else { throw mergeError(path, rank, b) }
                // The merged token: a, then b without its continuing-subword prefix.
                guard b.count >= prefixLength,
                      prefixLength == 0 || String(validating: UnsafeBufferPointer(rebasing: b[prefixLength...]), as: UTF8.self) != nil else {
                    throw TokenizerError.malformed(path: path, reason: "merge \(rank + 1): \(quoted(b)) lacks the continuing-subword prefix")
                }
                let tail = UnsafeBufferPointer(rebasing: b[prefixLength...])
                joined.removeAll(keepingCapacity: true)
                joined.append(contentsOf: a)
                joined.append(contentsOf: tail)
                guard let im = joined.withUnsafeBufferPointer({ id($0) }) else { throw mergeError(path, rank, joined) }
                entries.append((UInt32(ia), UInt32(ib), UInt32(rank), UInt32(im)))
            }
        }
        return entries
    }

    /// A tiktoken model from its mergeable ranks (token bytes -> rank = id). Every single byte must
    /// have a rank, as tiktoken requires.
    /// - Throws: `TokenizerError.malformed` naming `path` for a negative or huge rank or a missing byte.
    package convenience init(tiktokenRanks: [[UInt8]: Int], path: String = "tiktoken ranks") throws {
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
    package convenience init(tiktokenData data: [UInt8], path: String) throws {
        try self.init(rankKeys: try BPE.parseTiktokenKeys(data, path: path), path: path)
    }

    /// A tiktoken model read from a `.tiktoken` rank file.
    /// - Throws: `TokenizerError.unreadable` if the file cannot be read, `.malformed` for bad content.
    package convenience init(tiktokenFile path: String) throws {
        try self.init(tiktokenData: try Tokenizer.readFile(path), path: path)
    }

    /// A tiktoken model from its tokens with their ranks as ids.
    convenience init(rankKeys keys: ByteStringTable.PackedKeys, path: String) throws {
        var maxRank = -1
        for (k, r) in keys.ids.enumerated() {
            guard r < 1 << 24 else {   // ranks size tables: real vocabularies are far below 2^24
                let token = Array(keys.bytes[keys.starts[k]..<keys.starts[k + 1]])
                throw TokenizerError.malformed(path: path, reason: "token \(ByteLevel.encode(token)) has rank \(r) (ranks are below 2^24)")
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
    package static func parseTiktoken(_ data: [UInt8], path: String) throws -> [[UInt8]: Int] {
        let keys = try parseTiktokenKeys(data, path: path)
        var ranks: [[UInt8]: Int] = [:]
        for k in 0..<keys.count { ranks[Array(keys.bytes[keys.starts[k]..<keys.starts[k + 1]])] = keys.ids[k] }
        return ranks
    }

    /// Parses a `.tiktoken` rank file into packed keys (id = rank), decoding each token's base64 straight
    /// into the key bytes: no array per line.
    /// - Throws: `TokenizerError.malformed` naming `path` and the line number of a bad line.
    static func parseTiktokenKeys(_ data: [UInt8], path: String) throws -> ByteStringTable.PackedKeys {
        var starts = [0], ids: [Int] = []
        reserveHugePages(&starts, adding: data.count / 8)
        reserveHugePages(&ids, adding: data.count / 8)
        // Decoded tokens are shorter than the file: they are written straight into one buffer of its size.
        let bytes = try [UInt8](unsafeUninitializedCapacity: max(data.count, 1)) { out, written in
            written = 0
            adviseHugePages(UnsafeMutableRawBufferPointer(out))
            try data.withUnsafeBufferPointer { buffer in
                guard let d = buffer.baseAddress else { return }
                try Tokenizer.forEachLine(buffer) { lineNo, range in
                    let i = range.lowerBound
                    var lineEnd = range.upperBound
                    if lineEnd > i && d[lineEnd - 1] == 0x0D { lineEnd -= 1 }
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
                    if fieldCount == 0 { return }
                    guard fieldCount == 2 else {
                        throw TokenizerError.malformed(path: path, reason: "line \(lineNo): expected \"<base64 token> <rank>\", found \(fieldCount) fields")
                    }
                    guard let count = decodeBase64(UnsafeBufferPointer(rebasing: buffer[fields.0]), into: out.baseAddress! + written) else {
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
                    written += count
                    starts.append(written)
                    ids.append(rank)
                }
            }
        }
        return ByteStringTable.PackedKeys(bytes: bytes, starts: starts, ids: ids)
    }

    /// Decodes strict standard base64 `s` into `out` (room for `s.count / 4 * 3` bytes); the number of
    /// bytes, or nil if `s` is not valid base64.
    static func decodeBase64(_ s: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int? {
        guard s.count % 4 == 0, s.count >= 4, let p = s.baseAddress else { return nil }
        let padding = p[s.count - 1] == 0x3D ? (p[s.count - 2] == 0x3D ? 2 : 1) : 0
        let digits = s.count - padding
        return base64Values.withUnsafeBufferPointer { table -> Int? in
            // Whole groups of four digits -> three bytes; a digit value has its top bit set only for
            // a byte that is not a digit ('=' inside included).
            var o = 0
            var k = 0
            while k + 4 <= digits {
                let a = UInt32(table[Int(p[k])]), b = UInt32(table[Int(p[k + 1])])
                let c = UInt32(table[Int(p[k + 2])]), d = UInt32(table[Int(p[k + 3])])
                if (a | b | c | d) & 0x80 != 0 { return nil }
                let v = a << 18 | b << 12 | c << 6 | d
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                out[o + 2] = UInt8(truncatingIfNeeded: v)
                o += 3
                k += 4
            }
            // The last group before the padding: two digits -> one byte, three -> two.
            let rest = digits - k
            if rest == 1 { return nil }
            if rest >= 2 {
                let a = UInt32(table[Int(p[k])]), b = UInt32(table[Int(p[k + 1])])
                let c = rest == 3 ? UInt32(table[Int(p[k + 2])]) : 0
                if (a | b | c) & 0x80 != 0 { return nil }
                let v = a << 18 | b << 12 | c << 6
                out[o] = UInt8(truncatingIfNeeded: v >> 16)
                o += 1
                if rest == 3 {
                    out[o] = UInt8(truncatingIfNeeded: v >> 8)
                    o += 1
                }
            }
            return o
        }
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

private func quoted<C: Collection>(_ utf8: C) -> String where C.Element == UInt8 {
    quoted(String(decoding: utf8, as: UTF8.self))
}

private func mergeError<C: Collection>(_ path: String, _ rank: Int, _ token: C) -> TokenizerError where C.Element == UInt8 {
    mergeError(path, rank, String(decoding: token, as: UTF8.self))
}

/// A BPE model's vocabulary strings (UTF-8) by id and back, in a table built on first use when the
/// model did not need it to load (byte-level models resolve their merges by bytes).
/// Sendable: `keys` and `built` are read and written only while `lock` is held; `count` is immutable
/// after init, and the `ByteStringTable` handed out is immutable.
final class VocabularyStrings: @unchecked Sendable {
    private let lock = NSLock()
    private var keys: ByteStringTable.PackedKeys?
    private var built: ByteStringTable?
    private let count: Int

    init(_ table: ByteStringTable) {
        built = table
        count = table.count
    }

    init(count: Int, keys: ByteStringTable.PackedKeys) {
        self.keys = keys
        self.count = count
    }

    /// The table (built now if it was not yet).
    var table: ByteStringTable {
        lock.lock()
        defer { lock.unlock() }
        if let built { return built }
        let table = ByteStringTable(count: count, keys: keys ?? ByteStringTable.PackedKeys())
        built = table
        keys = nil
        return table
    }
}

/// BPE merges as UTF-8 strings end to end, without a String per token: merge `r` is the pair
/// `bytes[starts[2r]..<starts[2r + 1]]`, `bytes[starts[2r + 1]..<starts[2r + 2]]`.
struct PackedMerges: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var starts: [Int] = [0]

    var count: Int { (starts.count - 1) / 2 }

    /// Makes room for the merges `bytes` of text hold at about 16 bytes a merge (GPT-2's "a b" form
    /// has 12, its [a, b] form 40), so the tables do not grow by copying; pages never written cost
    /// nothing but address space.
    mutating func reserve(textBytes bytes: Int) {
        reserveHugePages(&self.bytes, adding: bytes)
        reserveHugePages(&starts, adding: bytes / 8)
    }

    mutating func append(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: a)
        starts.append(bytes.count)
        bytes.append(contentsOf: b)
        starts.append(bytes.count)
    }

    /// Calls `body` with the two tokens of merge `rank` (valid during the call).
    func withMerge<T>(_ rank: Int, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        try bytes.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[starts[2 * rank]..<starts[2 * rank + 1]]),
                     UnsafeBufferPointer(rebasing: all[starts[2 * rank + 1]..<starts[2 * rank + 2]]))
        }
    }

    /// The merges as strings, in rank order.
    var pairs: [(String, String)] {
        (0..<count).map { r in withMerge(r) { (String(decoding: $0, as: UTF8.self), String(decoding: $1, as: UTF8.self)) } }
    }
}
