// The initial symbols of a character model's piece, before merging: one per character (per byte for
// byte-level models), with byte fallback and unknown characters as Hugging Face `tokenizers`'
// `merge_word` makes them. Two versions with the same result: raw buffers without a prefix or suffix
// (the encoding path), and arrays for any settings (the reference, and pieces with affixes).

extension BPE {
    /// `initialSymbols(_:_:_:_:)` without a continuing-subword prefix or end-of-word suffix, written to
    /// raw buffers: the symbols to `sym` (room for `n`) and where each starts to `starts` (room for
    /// `n + 1`, the end last), as `encodeCharacters` derives them from the lengths; returns the count.
    func initialSymbols(_ p: UnsafePointer<UInt8>, _ n: Int, _ sym: UnsafeMutablePointer<UInt32>,
                        _ starts: UnsafeMutablePointer<Int32>) -> Int {
        precondition(prefix.isEmpty && suffix.isEmpty, "one symbol per byte at most")
        var count = 0
        var unk: (id: UInt32, len: Int)? = nil
        let reader = CharReader(p, n)
        let unkId = self.unkId
        @inline(__always) func add(_ id: UInt32, _ len: Int) {
            sym[count] = id
            starts[count] = Int32(truncatingIfNeeded: len)  // the length, made a start below
            count += 1
        }
        var i = 0
        while i < n {
            let len = options.byteLevel ? 1 : reader.at(i).len
            let id = table.find(p + i, len)
            if id >= 0 {
                if let u = unk {
                    add(u.id, u.len)
                    unk = nil
                }
                add(UInt32(id), len)
            } else {
                var handled = false
                if options.byteFallback {
                    var all = true
                    for k in 0 ..< len where fallbackIds[Int(p[i + k])] < 0 { all = false }
                    if all {
                        // As in `tokenizers`, a pending unknown is not flushed before byte tokens.
                        for k in 0 ..< len { add(UInt32(fallbackIds[Int(p[i + k])]), 1) }
                        handled = true
                    }
                }
                if !handled, let unkId {
                    if let u = unk {
                        if options.fuseUnk {
                            unk = (u.id, u.len + len)
                        } else {
                            add(u.id, u.len)
                            unk = (UInt32(unkId), len)
                        }
                    } else {
                        unk = (UInt32(unkId), len)
                    }
                }
            }
            i += len
        }
        if let u = unk { add(u.id, u.len) }
        var at = 0
        for k in 0 ..< count {
            let len = Int(starts[k])
            starts[k] = Int32(truncatingIfNeeded: min(at, n))
            at += len
        }
        starts[count] = Int32(truncatingIfNeeded: min(at, n))
        return count
    }

    /// Initial symbols of a piece and their byte lengths, exactly as `tokenizers`' `merge_word`.
    func initialSymbols(_ p: UnsafePointer<UInt8>, _ n: Int, _ sym: inout [UInt32], _ lens: inout [Int]) {
        var unk: (id: UInt32, len: Int)? = nil
        var key: [UInt8] = []
        var fallback: [UInt32] = []
        let reader = CharReader(p, n)
        var i = 0
        while i < n {
            let len = options.byteLevel ? 1 : reader.at(i).len
            key.removeAll(keepingCapacity: true)
            if i > 0 { key.append(contentsOf: prefix) }
            key.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len))
            if i + len >= n { key.append(contentsOf: suffix) }
            let id = table.find(key)
            if id >= 0 {
                if let u = unk {
                    sym.append(u.id)
                    lens.append(u.len)
                    unk = nil
                }
                sym.append(UInt32(id))
                lens.append(len)
            } else {
                var handled = false
                if options.byteFallback {
                    fallback.removeAll(keepingCapacity: true)
                    for b in key {
                        let f = fallbackIds[Int(b)]
                        if f < 0 { break }
                        fallback.append(UInt32(f))
                    }
                    if fallback.count == key.count {
                        // As in `tokenizers`, a pending unknown is not flushed before byte tokens.
                        for f in fallback {
                            sym.append(f)
                            lens.append(1)
                        }
                        handled = true
                    }
                }
                if !handled, let unkId {
                    if let u = unk {
                        if options.fuseUnk {
                            unk = (u.id, u.len + len)
                        } else {
                            sym.append(u.id)
                            lens.append(u.len)
                            unk = (UInt32(unkId), len)
                        }
                    } else {
                        unk = (UInt32(unkId), len)
                    }
                }
            }
            i += len
        }
        if let u = unk {
            sym.append(u.id)
            lens.append(u.len)
        }
    }
}
