// The backtracking machine that runs a `RegexProgram` over UTF-8 bytes, and the search for successive
// matches as Hugging Face `tokenizers` iterates them (the `onig` crate's `find_iter`).
//
// Leftmost-first: at each start position the alternatives and quantifiers are tried in the pattern's
// order of preference and the first way that reaches the end wins (not the longest). Text is decoded
// on the fly; an ill-formed byte is one character that is no letter, number, space or word character.
// One backtrack stack serves a whole text; it is allocated once per text and grows by doubling.

/// A pattern compiled once, matched many times; safe to share between threads.
struct CompiledRegex: Sendable {
    /// The pattern as written.
    let pattern: String
    let tables: RegexTables
    let firstSet: Int?
    let registers: Int

    /// Compiles `pattern` (`literal`: the text itself, as tokenizer.json `{"String": ...}` patterns).
    init(_ pattern: String, dialect: RegexDialect = .oniguruma, literal: Bool = false) throws {
        self.pattern = pattern
        let program = try RegexProgram(RegexParser.parse(pattern, dialect: dialect, literal: literal))
        tables = RegexTables(program)
        firstSet = program.firstSet
        registers = program.registers
    }

    /// Calls `body(start, end)` for each match in `text` (none in an empty text, which Hugging Face
    /// never searches), in order, with the `onig` crate's treatment of empty matches: after an empty
    /// match the search resumes one character further; an empty match found by the search that follows
    /// a non-empty match is dropped.
    @inline(__always)
    func forEachMatch(in text: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Void) {
        guard let p = text.baseAddress, !text.isEmpty else { return }
        var vm = RegexVM(tables, p: p, n: text.count, registers: registers)
        defer { vm.release() }
        let n = text.count
        var from = 0
        var skipNextEmpty = false
        while from <= n {
            guard let (s, e) = vm.search(from: from, firstSet: firstSet) else { return }
            from = e
            if e == s {
                from += e < n ? vm.decode(e).1 : 1
                if skipNextEmpty {
                    skipNextEmpty = false
                    continue
                }
            } else {
                skipNextEmpty = true
            }
            body(s, e)
        }
        withExtendedLifetime(tables) {}
    }

    /// The matches in `text` as byte ranges (tests and tools).
    func matches(in text: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        text.withUnsafeBufferPointer { buffer in forEachMatch(in: buffer) { out.append($0..<$1) } }
        return out
    }
}

/// One backtrack point.
private struct Frame {
    enum Kind: UInt8 {
        /// Resume at `pc` and `pos`.
        case resume
        /// A greedy run ending at `pos` gives back its last character (not below `aux`); then `pc`.
        case giveBack
        /// A lazy run at `pos` takes one more character (`aux` more at most; negative: no limit);
        /// `pc` is the run instruction.
        case takeMore
        /// Restore loop register `pc` to `pos`.
        case restore
    }

    var kind: Kind
    var pc: Int32
    var pos: Int
    var aux: Int
}

struct RegexVM {
    let code: UnsafePointer<RegexInst>
    let bits: UnsafePointer<UInt64>
    let dispatch: UnsafePointer<Int32>
    let slow: RegexSlowSets
    let p: UnsafePointer<UInt8>
    let n: Int
    private var stack: UnsafeMutablePointer<Frame>
    private var capacity: Int
    private var sp = 0
    private let regs: UnsafeMutablePointer<Int>

    init(_ tables: RegexTables, p: UnsafePointer<UInt8>, n: Int, registers: Int) {
        code = UnsafePointer(tables.code)
        bits = UnsafePointer(tables.bits)
        slow = tables.slow
        dispatch = UnsafePointer(tables.dispatch)
        self.p = p
        self.n = n
        capacity = 64
        stack = .allocate(capacity: capacity)
        regs = .allocate(capacity: max(registers, 1))
        regs.initialize(repeating: -1, count: max(registers, 1))
    }

    func release() {
        stack.deallocate()
        regs.deallocate()
    }

    // MARK: Characters

    /// The character at byte `i` (`i < n`) of `p` and its length in bytes. (Static, like `has`, so that
    /// the hot loops call them on values in registers rather than on a copy of the machine.)
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt32, Int) {
        let b = p[i]
        if b < 0x80 { return (UInt32(b), 1) }
        return UTF8Codec.decode(p, at: i, end: n)
    }

    /// Whether set `k` holds scalar `s`.
    @inline(__always)
    static func has(_ bits: UnsafePointer<UInt64>, _ slow: RegexSlowSets, _ k: Int32, _ s: UInt32) -> Bool {
        if s < 0x10000 { return bits[Int(k) << 10 | Int(s >> 6)] >> UInt64(s & 63) & 1 != 0 }
        return slow.contains(k, s)
    }

    @inline(__always)
    func decode(_ i: Int) -> (UInt32, Int) { RegexVM.decode(p, i, n) }

    @inline(__always)
    func inSet(_ k: Int32, _ s: UInt32) -> Bool { RegexVM.has(bits, slow, k, s) }

    /// Start of the character that ends at byte `end` (> `floor`), decoding forward as `decode` does:
    /// a well-formed sequence ending at `end`, else the single byte before it.
    @inline(__always)
    static func previousStart(_ p: UnsafePointer<UInt8>, _ n: Int, _ end: Int, floor: Int) -> Int {
        var k = end - 1
        let lowest = Swift.max(floor, end - 4)
        while k > lowest && p[k] & 0xC0 == 0x80 { k -= 1 }
        if k < end - 1 && decode(p, k, n).1 == end - k { return k }
        return end - 1
    }

    @inline(__always)
    func isWordBefore(_ i: Int) -> Bool {
        i > 0 && RegexUnicode.isWordForBoundary(decode(RegexVM.previousStart(p, n, i, floor: 0)).0)
    }

    @inline(__always)
    func isWordAt(_ i: Int) -> Bool { i < n && RegexUnicode.isWordForBoundary(decode(i).0) }

    func check(_ assertion: Int32, _ i: Int) -> Bool {
        switch assertion {
        case 0: return i == 0 || (i < n && p[i - 1] == 0x0A)  // ^: not after a final newline
        case 1: return i == n || p[i] == 0x0A
        case 2: return i == 0
        case 3: return i == n
        case 4: return i == n || (i == n - 1 && p[i] == 0x0A)
        case 5: return isWordBefore(i) != isWordAt(i)
        default: return isWordBefore(i) == isWordAt(i)
        }
    }

    // MARK: Stack

    @inline(__always)
    private mutating func push(_ kind: Frame.Kind, _ pc: Int32, _ pos: Int, _ aux: Int = 0) {
        if sp == capacity { grow() }
        stack[sp] = Frame(kind: kind, pc: pc, pos: pos, aux: aux)
        sp += 1
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Frame>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: stack, count: sp)
        stack.deallocate()
        stack = bigger
        capacity *= 2
    }

    // MARK: Search

    /// The first match starting at or after `from`: leftmost start, then the first way to match there.
    mutating func search(from: Int, firstSet: Int?) -> (Int, Int)? {
        let p = self.p, n = self.n, bits = self.bits, slow = self.slow
        var start = from
        if let first = firstSet {
            let k = Int32(first)
            while start < n {
                let b = p[start]
                if b < 0x80 {
                    if bits[Int(k) << 10 | Int(b >> 6)] >> UInt64(b & 63) & 1 != 0 {
                        let e = run(0, start)
                        if e >= 0 { return (start, e) }
                    }
                    start += 1
                } else {
                    let (s, len) = UTF8Codec.decode(p, at: start, end: n)
                    if RegexVM.has(bits, slow, k, s) {
                        let e = run(0, start)
                        if e >= 0 { return (start, e) }
                    }
                    start += len
                }
            }
            return nil
        }
        while start <= n {
            let e = run(0, start)
            if e >= 0 { return (start, e) }
            if start == n { break }
            start += RegexVM.decode(p, start, n).1
        }
        return nil
    }

    /// Runs from instruction `pc0` at byte `pos0`; returns where the match (or sub-match) ends, -1 if
    /// there is none. Backtrack frames pushed here are popped before it returns.
    mutating func run(_ pc0: Int, _ pos0: Int) -> Int {
        let code = self.code, p = self.p, n = self.n, bits = self.bits, slow = self.slow, dispatch = self.dispatch
        let base = sp
        var pc = pc0
        var pos = pos0
        // The character at `cachedPos`, decoded once for the guards of consecutive alternatives.
        var cachedPos = -1
        var cached: UInt32 = 0
        while true {
            var failed = false
            // Forward until a match or a failure.
            execute: while true {
                let inst = code[pc]
                switch inst.op {
                case .char:
                    guard pos < n else { failed = true; break execute }
                    let (s, len) = RegexVM.decode(p, pos, n)
                    guard s == UInt32(bitPattern: inst.a) else { failed = true; break execute }
                    pos += len
                    pc += 1
                case .set:
                    guard pos < n else { failed = true; break execute }
                    let (s, len) = RegexVM.decode(p, pos, n)
                    guard RegexVM.has(bits, slow, inst.a, s) else { failed = true; break execute }
                    pos += len
                    pc += 1
                case .run:
                    let min = Int(inst.b)
                    let max = inst.c < 0 ? Int.max : Int(inst.c)
                    let limit = inst.mode == 1 ? min : max
                    var count = 0
                    var j = pos
                    var minEnd = pos
                    while count < limit && j < n {
                        let (s, len) = RegexVM.decode(p, j, n)
                        guard RegexVM.has(bits, slow, inst.a, s) else { break }
                        j += len
                        count += 1
                        if count == min { minEnd = j }
                    }
                    guard count >= min else { failed = true; break execute }
                    if inst.mode == 0 && j > minEnd {
                        push(.giveBack, Int32(pc + 1), j, minEnd)
                    } else if inst.mode == 1 && max > min {
                        push(.takeMore, Int32(pc), j, max == Int.max ? -1 : max - min)
                    }
                    pos = j
                    pc += 1
                case .split:
                    if inst.mode == 1 && pos != cachedPos && pos < n {
                        cached = RegexVM.decode(p, pos, n).0
                        cachedPos = pos
                    }
                    if inst.mode == 1 && (pos >= n || !RegexVM.has(bits, slow, inst.c, cached)) {
                        pc = Int(inst.b)
                    } else {
                        push(.resume, inst.b, pos)
                        pc = Int(inst.a)
                    }
                case .jump:
                    pc = Int(inst.a)
                case .dispatch:
                    let b = pos < n ? Int(p[pos]) : 128
                    let target = dispatch[Int(inst.a) + (b < 0x80 ? b : 128)]
                    guard target >= 0 else { failed = true; break execute }
                    pc = Int(target)
                case .match, .succeed:
                    sp = base
                    return pos
                case .assert:
                    guard check(inst.a, pos) else { failed = true; break execute }
                    pc += 1
                case .look:
                    let matched = run(Int(inst.a), pos) >= 0
                    guard matched != (inst.b == 1) else { failed = true; break execute }
                    pc = Int(inst.c)
                case .atomic:
                    let end = run(Int(inst.a), pos)
                    guard end >= 0 else { failed = true; break execute }
                    pos = end
                    pc = Int(inst.c)
                case .saveLoop:
                    push(.restore, inst.a, regs[Int(inst.a)])
                    regs[Int(inst.a)] = pos
                    pc += 1
                case .loopCheck:
                    pc = Int(pos == regs[Int(inst.a)] ? inst.c : inst.b)
                }
            }
            guard failed else { continue }
            // Backtrack to the most recent choice that can still be taken.
            backtrack: while true {
                if sp == base { return -1 }
                sp -= 1
                let f = stack[sp]
                switch f.kind {
                case .resume:
                    pc = Int(f.pc)
                    pos = f.pos
                    break backtrack
                case .restore:
                    regs[Int(f.pc)] = f.pos
                case .giveBack:
                    let shorter = RegexVM.previousStart(p, n, f.pos, floor: f.aux)
                    if shorter > f.aux { push(.giveBack, f.pc, shorter, f.aux) }
                    pc = Int(f.pc)
                    pos = shorter
                    break backtrack
                case .takeMore:
                    guard f.pos < n else { continue }
                    let inst = code[Int(f.pc)]
                    let (s, len) = RegexVM.decode(p, f.pos, n)
                    guard RegexVM.has(bits, slow, inst.a, s) else { continue }
                    if f.aux != 1 { push(.takeMore, f.pc, f.pos + len, f.aux < 0 ? -1 : f.aux - 1) }
                    pc = Int(f.pc) + 1
                    pos = f.pos + len
                    break backtrack
                }
            }
        }
    }
}
