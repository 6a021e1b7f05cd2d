// Compiles a parsed pattern to the instructions of the backtracking machine (RegexMatcher.swift).
//
// A repetition of one character set becomes a single `run` instruction that scans the run at once and,
// when greedy, backs off one character per backtrack from a single stack frame; other repetitions are
// expanded to `split`/`jump` loops (with a progress check when the body can match empty, ending the loop
// as Oniguruma does). Lookahead and atomic groups run their body as a sub-match. The compiler also
// computes the set of characters a match can start with, so the search skips the others.

struct RegexInst {
    enum Op: UInt8 {
        /// Match scalar `a`.
        case char
        /// Match one character of set `a`.
        case set
        /// Match `b`...`c` (`c` < 0: unbounded) characters of set `a`; `mode` 0 greedy, 1 lazy, 2 possessive.
        case run
        /// Continue at `a`; on failure at `b`. With `mode` 1, `a` is taken only when the character at
        /// the position is in set `c` (the first characters of the branch at `a`), else `b` at once.
        case split
        case jump
        /// The whole pattern matched.
        case match
        /// Continue at `dispatchTable[a + byte]` for the ASCII byte at the position, at
        /// `dispatchTable[a + 128]` for any other character or the end; fail on -1.
        case dispatch
        /// Zero-width assertion `a` (a `RegexAssertionCode`).
        case assert
        /// Lookahead: body at `a`, negated when `b` is 1, continue at `c`.
        case look
        /// Atomic group: body at `a`, continue at `c` from where the body's first match ended.
        case atomic
        /// End of a lookahead's or atomic group's body.
        case succeed
        /// Record the position in loop register `a` (restored on backtracking).
        case saveLoop
        /// End of a loop iteration: continue at `c` when it consumed nothing since register `a` was
        /// saved, else at `b` (the loop head).
        case loopCheck
    }

    var op: Op
    var mode: UInt8 = 0
    var a: Int32 = 0
    var b: Int32 = 0
    var c: Int32 = 0
}

enum RegexAssertionCode {
    static func code(_ a: RegexAssertion) -> Int32 {
        switch a {
        case .lineStart: return 0
        case .lineEnd: return 1
        case .textStart: return 2
        case .textEnd: return 3
        case .textEndBeforeNewline: return 4
        case .wordBoundary: return 5
        case .notWordBoundary: return 6
        }
    }
}

/// A compiled pattern: instructions, character sets, and the start-of-match prefilter.
struct RegexProgram {
    var code: [RegexInst] = []
    var sets = RegexSetTable()
    var registers = 0
    /// Jump tables of the `dispatch` instructions, 129 entries each.
    var dispatchTable: [Int32] = []
    /// Set index of the characters a non-empty match can start with; nil when the pattern can match
    /// the empty string (then every position is tried).
    var firstSet: Int? = nil

    /// Largest program accepted (repetition counts are expanded).
    static let maxInstructions = 100_000

    init(_ root: RegexNode) throws {
        try emit(root)
        code.append(RegexInst(op: .match))
        // A greedy run followed (through jumps) by the end of the match never gets to give characters
        // back: it needs no backtrack frame.
        for k in code.indices where code[k].op == .run && code[k].mode == 0 {
            var next = k + 1
            var hops = 0
            while code[next].op == .jump && hops < 8 {
                next = Int(code[next].a)
                hops += 1
            }
            if code[next].op == .match || code[next].op == .succeed { code[k].mode = 2 }
        }
        let (first, nullable) = RegexProgram.first(root)
        if !nullable { firstSet = sets.index(of: first.count == 1 ? first[0] : .union(first)) }
    }

    private mutating func append(_ inst: RegexInst) throws -> Int {
        if code.count >= RegexProgram.maxInstructions {
            throw RegexError.unsupported(construct: "pattern of more than \(RegexProgram.maxInstructions) instructions once repetitions are expanded", at: 0)
        }
        code.append(inst)
        return code.count - 1
    }

    private var here: Int32 { Int32(code.count) }

    private mutating func emit(_ node: RegexNode) throws {
        switch node {
        case .empty: break
        case let .set(t):
            if let c = t.singleScalar {
                _ = try append(RegexInst(op: .char, a: Int32(c)))
            } else {
                _ = try append(RegexInst(op: .set, a: Int32(sets.index(of: t))))
            }
        case let .concat(items):
            for item in items { try emit(item) }
        case let .alternation(branches):
            // A dispatch on the next byte jumps past the alternatives that cannot start with it.
            let table = dispatchTable.count
            let dispatch = branches.count > 2 ? try append(RegexInst(op: .dispatch, a: Int32(table))) : -1
            if dispatch >= 0 { dispatchTable += repeatElement(-1, count: 129) }  // filled below, after nested ones
            var entries: [(sets: [RegexSetTerm]?, pc: Int32)] = []
            var jumps: [Int] = []
            for (k, branch) in branches.enumerated() {
                let f = RegexProgram.first(branch)
                entries.append((f.nullable ? nil : f.sets, here))
                if k < branches.count - 1 {
                    let split = try append(guardedSplit(branch))
                    code[split].a = here
                    try emit(branch)
                    jumps.append(try append(RegexInst(op: .jump)))
                    code[split].b = here
                } else {
                    try emit(branch)
                }
            }
            for j in jumps { code[j].a = here }
            if dispatch >= 0 {
                // Entry b: the first alternative that can start with ASCII byte b (128: any other
                // character or the end of the text); -1 when none can.
                for b in 0..<128 {
                    let pc = entries.first { e in e.sets.map { sets in sets.contains { $0.contains(UInt32(b)) } } ?? true }?.pc
                    dispatchTable[table + b] = pc ?? -1
                }
                dispatchTable[table + 128] = entries[0].pc
            }
        case let .repetition(body, min, max, kind):
            try emitRepetition(body, min: min, max: max, kind)
        case let .lookahead(body, negated):
            let look = try append(RegexInst(op: .look, b: negated ? 1 : 0))
            code[look].a = here
            try emit(body)
            _ = try append(RegexInst(op: .succeed))
            code[look].c = here
        case let .atomic(body):
            let at = try append(RegexInst(op: .atomic))
            code[at].a = here
            try emit(body)
            _ = try append(RegexInst(op: .succeed))
            code[at].c = here
        case let .assertion(a):
            _ = try append(RegexInst(op: .assert, a: RegexAssertionCode.code(a)))
        }
    }

    private mutating func emitRepetition(_ body: RegexNode, min: Int, max: Int?, _ kind: RegexRepeatKind) throws {
        if case let .set(t) = body {
            let mode: UInt8 = kind == .greedy ? 0 : kind == .lazy ? 1 : 2
            _ = try append(RegexInst(op: .run, mode: mode, a: Int32(sets.index(of: t)), b: Int32(min), c: Int32(max ?? -1)))
            return
        }
        if kind == .possessive {
            try emit(.atomic(.repetition(body, min: min, max: max, .greedy)))
            return
        }
        for _ in 0..<min { try emit(body) }
        let lazy = kind == .lazy
        if let max {
            // Optional copies, nested: each one's failure (or refusal, when lazy) skips to the end.
            var splits: [Int] = []
            for _ in min..<max {
                let split = try append(lazy ? RegexInst(op: .split) : guardedSplit(body))
                splits.append(split)
                if lazy { code[split].b = here } else { code[split].a = here }
                try emit(body)
            }
            for s in splits { if lazy { code[s].a = here } else { code[s].b = here } }
            return
        }
        let head = try append(lazy ? RegexInst(op: .split) : guardedSplit(body))
        if lazy { code[head].b = here } else { code[head].a = here }
        let checked = RegexProgram.nullable(body)
        let register = Int32(registers)
        if checked {
            registers += 1
            _ = try append(RegexInst(op: .saveLoop, a: register))
        }
        try emit(body)
        let back = try append(checked ? RegexInst(op: .loopCheck, a: register, b: Int32(head)) : RegexInst(op: .jump, a: Int32(head)))
        if checked { code[back].c = here }
        if lazy { code[head].a = here } else { code[head].b = here }
    }

    /// A split whose preferred branch is `branch`: guarded by the branch's first characters when it
    /// cannot match the empty string, so a branch that cannot start here pushes no backtrack frame.
    private mutating func guardedSplit(_ branch: RegexNode) -> RegexInst {
        let (sets, nullable) = RegexProgram.first(branch)
        if nullable || sets.isEmpty { return RegexInst(op: .split) }
        return RegexInst(op: .split, mode: 1, c: Int32(self.sets.index(of: sets.count == 1 ? sets[0] : .union(sets))))
    }

    /// Whether `node` can match the empty string.
    static func nullable(_ node: RegexNode) -> Bool { first(node).nullable }

    /// The sets one of which the first character of a non-empty match of `node` belongs to, and whether
    /// `node` can match the empty string. Zero-width parts are transparent.
    static func first(_ node: RegexNode) -> (sets: [RegexSetTerm], nullable: Bool) {
        switch node {
        case .empty, .assertion, .lookahead: return ([], true)
        case let .set(t): return ([t], false)
        case let .concat(items):
            var sets: [RegexSetTerm] = []
            for item in items {
                let f = first(item)
                sets += f.sets
                if !f.nullable { return (sets, false) }
            }
            return (sets, true)
        case let .alternation(branches):
            var sets: [RegexSetTerm] = []
            var nullable = false
            for b in branches {
                let f = first(b)
                sets += f.sets
                nullable = nullable || f.nullable
            }
            return (sets, nullable)
        case let .repetition(body, min, _, _):
            let f = first(body)
            return (f.sets, f.nullable || min == 0)
        case let .atomic(body): return first(body)
        }
    }
}
