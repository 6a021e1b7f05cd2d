// The syntax tree of a chat template and the parser that builds it from the lexer's segments, with
// Jinja's operator precedence.

indirect enum TemplateExpr {
    case literal(TemplateValue)
    case name(String, TemplatePosition)
    case list([TemplateExpr])
    case dict([(TemplateExpr, TemplateExpr)], TemplatePosition)
    case attribute(TemplateExpr, String, TemplatePosition)
    case index(TemplateExpr, TemplateExpr, TemplatePosition)
    case slice(TemplateExpr, TemplateExpr?, TemplateExpr?, TemplateExpr?, TemplatePosition)
    case call(TemplateExpr, [TemplateExpr], [(String, TemplateExpr)], TemplatePosition)
    case filter(TemplateExpr, String, [TemplateExpr], [(String, TemplateExpr)], TemplatePosition)
    case test(TemplateExpr, String, [TemplateExpr], negated: Bool, TemplatePosition)
    case unary(String, TemplateExpr, TemplatePosition)
    case binary(String, TemplateExpr, TemplateExpr, TemplatePosition)
    case and(TemplateExpr, TemplateExpr)
    case or(TemplateExpr, TemplateExpr)
    case conditional(TemplateExpr, condition: TemplateExpr, otherwise: TemplateExpr?)
}

indirect enum TemplateNode {
    case text(String)
    case output(TemplateExpr)
    case ifBlock([(TemplateExpr, [TemplateNode])], otherwise: [TemplateNode])
    case forBlock(targets: [String], iterable: TemplateExpr, filter: TemplateExpr?, body: [TemplateNode],
                  otherwise: [TemplateNode], TemplatePosition)
    case set(target: String, attribute: String?, TemplateExpr, TemplatePosition)
    case setMany(targets: [String], TemplateExpr, TemplatePosition)
    case setBlock(target: String, body: [TemplateNode])
    case macro(name: String, parameters: [(String, TemplateExpr?)], body: [TemplateNode])
    case filterBlock(name: String, arguments: [TemplateExpr], keywords: [(String, TemplateExpr)], body: [TemplateNode], TemplatePosition)
    case breakLoop, continueLoop
}

struct TemplateParser {
    var segments: [TemplateSegment]
    var index = 0
    var tokens: [TemplateToken] = []
    var pos = 0
    /// How deeply expressions nest now; bounded so a hostile template cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 200

    init(segments: [TemplateSegment]) { self.segments = segments }

    // MARK: statements

    /// Parses nodes until a statement whose keyword is in `enders` (returned, not consumed past its keyword).
    /// `opening` is the position of the statement that opened the block (nil at the top level).
    mutating func parseBody(until enders: Set<String>, opening: TemplatePosition? = nil) throws -> (nodes: [TemplateNode], ender: String?) {
        var nodes: [TemplateNode] = []
        while index < segments.count {
            let seg = segments[index]
            index += 1
            switch seg {
            case .text(let s): nodes.append(.text(s))
            case .output(let toks, _):
                tokens = toks; pos = 0
                let e = try parseExpression()
                try expectEnd()
                nodes.append(.output(e))
            case .statement(let toks, let p):
                tokens = toks; pos = 0
                guard let first = toks.first, first.kind == .name else {
                    throw ChatTemplateError.syntax(message: "expected a statement keyword", position: p)
                }
                if enders.contains(first.text) { pos = 1; return (nodes, first.text) }
                pos = 1
                nodes.append(try parseStatement(first.text, p))
            }
        }
        if let opening, let e = enders.first(where: { $0.hasPrefix("end") }) {
            throw ChatTemplateError.syntax(message: "missing {% \(e) %} for the block opened here", position: opening)
        }
        return (nodes, nil)
    }

    mutating func parseStatement(_ keyword: String, _ p: TemplatePosition) throws -> TemplateNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= TemplateParser.maxDepth else {
            throw ChatTemplateError.unsupported(construct: "blocks nested more than \(TemplateParser.maxDepth) deep", position: p)
        }
        switch keyword {
        case "if":
            var branches: [(TemplateExpr, [TemplateNode])] = []
            var cond = try parseExpression(); try expectEnd()
            while true {
                let (body, ender) = try parseBody(until: ["elif", "else", "endif"], opening: p)
                branches.append((cond, body))
                if ender == "elif" { cond = try parseExpression(); try expectEnd(); continue }
                if ender == "else" {
                    try expectEnd()
                    let (rest, _) = try parseBody(until: ["endif"], opening: p)
                    try expectEnd()
                    return .ifBlock(branches, otherwise: rest)
                }
                try expectEnd()
                return .ifBlock(branches, otherwise: [])
            }
        case "for":
            var targets = [try expectName()]
            while peekOp(",") { pos += 1; targets.append(try expectName()) }
            guard peek.kind == .name, peek.text == "in" else { throw syntaxError("expected 'in'") }
            pos += 1
            let iterable = try parseOr(noConditional: true)
            var filter: TemplateExpr? = nil
            if peek.kind == .name, peek.text == "if" { pos += 1; filter = try parseOr() }
            if peek.kind == .name, peek.text == "recursive" {
                throw ChatTemplateError.unsupported(construct: "recursive for loop", position: peek.position)
            }
            try expectEnd()
            let (body, ender) = try parseBody(until: ["else", "endfor"], opening: p)
            try expectEnd()
            var otherwise: [TemplateNode] = []
            if ender == "else" { (otherwise, _) = try parseBody(until: ["endfor"], opening: p); try expectEnd() }
            return .forBlock(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, p)
        case "set":
            let target = try expectName()
            var attribute: String? = nil
            if peekOp(".") { pos += 1; attribute = try expectName() }
            if peek.kind == .end, attribute == nil {
                let (body, _) = try parseBody(until: ["endset"], opening: p)
                try expectEnd()
                return .setBlock(target: target, body: body)
            }
            var targets = [target]
            while attribute == nil, peekOp(",") { pos += 1; targets.append(try expectName()) }
            guard peekOp("=") else { throw syntaxError("expected '='") }
            pos += 1
            var value = try parseExpression()
            if peekOp(",") {
                // `a, b = 1, 2`: the right side is a tuple without parentheses.
                var items = [value]
                while peekOp(",") { pos += 1; if peek.kind == .end { break }; items.append(try parseExpression()) }
                value = .list(items)
            }
            try expectEnd()
            if targets.count > 1 { return .setMany(targets: targets, value, p) }
            return .set(target: target, attribute: attribute, value, p)
        case "macro":
            let name = try expectName()
            try expectOp("(")
            var params: [(String, TemplateExpr?)] = []
            while !peekOp(")") {
                let pname = try expectName()
                var def: TemplateExpr? = nil
                if peekOp("=") { pos += 1; def = try parseExpression() }
                params.append((pname, def))
                if peekOp(",") { pos += 1 } else { break }
            }
            try expectOp(")"); try expectEnd()
            let (body, _) = try parseBody(until: ["endmacro"], opening: p)
            if peek.kind == .name { pos += 1 }
            try expectEnd()
            return .macro(name: name, parameters: params, body: body)
        case "generation":
            // transformers' extension marks the assistant's part; it renders its body unchanged.
            try expectEnd()
            let (body, _) = try parseBody(until: ["endgeneration"], opening: p)
            try expectEnd()
            return .ifBlock([(.literal(.bool(true)), body)], otherwise: [])
        case "filter":
            var name = try expectName()
            while peekOp(".") { pos += 1; name += "." + (try expectName()) }
            var a: [TemplateExpr] = [], k: [(String, TemplateExpr)] = []
            if peekOp("(") { pos += 1; (a, k) = try parseArguments() }
            try expectEnd()
            let (body, _) = try parseBody(until: ["endfilter"], opening: p)
            try expectEnd()
            return .filterBlock(name: name, arguments: a, keywords: k, body: body, p)
        case "break": try expectEnd(); return .breakLoop
        case "continue": try expectEnd(); return .continueLoop
        default:
            throw ChatTemplateError.unsupported(construct: "{% \(keyword) %}", position: p)
        }
    }

    // MARK: expressions

    var peek: TemplateToken { tokens[min(pos, tokens.count - 1)] }
    func peekOp(_ s: String) -> Bool { peek.kind == .op && peek.text == s }
    func peekName(_ s: String) -> Bool { peek.kind == .name && peek.text == s }
    func syntaxError(_ m: String) -> ChatTemplateError {
        .syntax(message: m + (peek.kind == .end ? " at the end of the tag" : ", found '\(peek.text)'"), position: peek.position)
    }
    mutating func expectOp(_ s: String) throws { guard peekOp(s) else { throw syntaxError("expected '\(s)'") }; pos += 1 }
    mutating func expectName() throws -> String {
        guard peek.kind == .name else { throw syntaxError("expected a name") }
        pos += 1; return tokens[pos - 1].text
    }
    mutating func expectEnd() throws { guard peek.kind == .end else { throw syntaxError("expected the end of the tag") } }

    mutating func parseExpression() throws -> TemplateExpr { try parseOr(noConditional: false) }

    mutating func parseOr(noConditional: Bool = true) throws -> TemplateExpr {
        var left = try parseAnd()
        while peekName("or") { pos += 1; left = .or(left, try parseAnd()) }
        if !noConditional, peekName("if") {
            pos += 1
            let cond = try parseOr()
            var otherwise: TemplateExpr? = nil
            if peekName("else") { pos += 1; otherwise = try parseExpression() }
            return .conditional(left, condition: cond, otherwise: otherwise)
        }
        return left
    }

    mutating func parseAnd() throws -> TemplateExpr {
        var left = try parseNot()
        while peekName("and") { pos += 1; left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> TemplateExpr {
        if peekName("not") { let p = peek.position; pos += 1; return .unary("not", try parseNot(), p) }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> TemplateExpr {
        var left = try parseMath1()
        while true {
            let p = peek.position
            if peek.kind == .op, ["==", "!=", "<", ">", "<=", ">="].contains(peek.text) {
                let op = peek.text; pos += 1
                left = .binary(op, left, try parseMath1(), p)
            } else if peekName("in") {
                pos += 1; left = .binary("in", left, try parseMath1(), p)
            } else if peekName("not"), pos + 1 < tokens.count, tokens[pos + 1].kind == .name, tokens[pos + 1].text == "in" {
                pos += 2; left = .unary("not", .binary("in", left, try parseMath1(), p), p)
            } else { return left }
        }
    }

    mutating func parseMath1() throws -> TemplateExpr {
        var left = try parseConcat()
        while peek.kind == .op, peek.text == "+" || peek.text == "-" {
            let op = peek.text, p = peek.position; pos += 1
            left = .binary(op, left, try parseConcat(), p)
        }
        return left
    }

    mutating func parseConcat() throws -> TemplateExpr {
        var left = try parseMath2()
        while peekOp("~") { let p = peek.position; pos += 1; left = .binary("~", left, try parseMath2(), p) }
        return left
    }

    mutating func parseMath2() throws -> TemplateExpr {
        var left = try parsePow()
        while peek.kind == .op, ["*", "/", "//", "%"].contains(peek.text) {
            let op = peek.text, p = peek.position; pos += 1
            left = .binary(op, left, try parsePow(), p)
        }
        return left
    }

    mutating func parsePow() throws -> TemplateExpr {
        var left = try parseUnary()
        while peekOp("**") { let p = peek.position; pos += 1; left = .binary("**", left, try parseUnary(), p) }
        return left
    }

    mutating func parseUnary() throws -> TemplateExpr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= TemplateParser.maxDepth else {
            throw ChatTemplateError.unsupported(construct: "expressions nested more than \(TemplateParser.maxDepth) deep", position: peek.position)
        }
        if peek.kind == .op, peek.text == "-" || peek.text == "+" {
            let op = peek.text, p = peek.position; pos += 1
            let operand = try parseUnary()
            return op == "-" ? .unary("-", operand, p) : operand
        }
        return try parsePostfix(try parsePrimary())
    }

    mutating func parsePrimary() throws -> TemplateExpr {
        let t = peek
        pos += 1
        switch t.kind {
        case .name:
            switch t.text {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(t.text, t.position)
            }
        case .string:
            var s = t.text
            while peek.kind == .string { s += peek.text; pos += 1 }   // adjacent literals join
            return .literal(.string(s))
        case .integer:
            guard let v = Int(t.text) else { throw ChatTemplateError.syntax(message: "integer too large", position: t.position) }
            return .literal(.int(v))
        case .float: return .literal(.double(Double(t.text) ?? 0))
        case .op:
            if t.text == "(" {
                if peekOp(")") { pos += 1; return .list([]) }
                let e = try parseExpression()
                guard peekOp(",") else { try expectOp(")"); return e }
                // A tuple: a list here, as templates only index and iterate them.
                var items = [e]
                while peekOp(",") {
                    pos += 1
                    if peekOp(")") { break }
                    items.append(try parseExpression())
                }
                try expectOp(")"); return .list(items)
            }
            if t.text == "[" {
                var items: [TemplateExpr] = []
                while !peekOp("]") {
                    items.append(try parseExpression())
                    if peekOp(",") { pos += 1 } else { break }
                }
                try expectOp("]"); return .list(items)
            }
            if t.text == "{" {
                var items: [(TemplateExpr, TemplateExpr)] = []
                while !peekOp("}") {
                    let k = try parseExpression(); try expectOp(":")
                    items.append((k, try parseExpression()))
                    if peekOp(",") { pos += 1 } else { break }
                }
                try expectOp("}"); return .dict(items, t.position)
            }
            pos -= 1
            throw syntaxError("unexpected operator")
        case .end:
            pos -= 1
            throw syntaxError("expected an expression")
        }
    }

    mutating func parseArguments() throws -> ([TemplateExpr], [(String, TemplateExpr)]) {
        var args: [TemplateExpr] = [], kwargs: [(String, TemplateExpr)] = []
        while !peekOp(")") {
            if peek.kind == .name, pos + 1 < tokens.count, tokens[pos + 1].kind == .op, tokens[pos + 1].text == "=" {
                let n = peek.text; pos += 2
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if peekOp(",") { pos += 1 } else { break }
        }
        try expectOp(")")
        return (args, kwargs)
    }

    mutating func parsePostfix(_ base: TemplateExpr) throws -> TemplateExpr {
        var e = base
        while true {
            let p = peek.position
            if peekOp(".") {
                pos += 1
                if peek.kind == .integer { e = .index(e, .literal(.int(Int(peek.text) ?? 0)), p); pos += 1; continue }
                e = .attribute(e, try expectName(), p)
            } else if peekOp("[") {
                pos += 1
                var parts: [TemplateExpr?] = [nil]
                var colons = 0
                while !peekOp("]") {
                    if peekOp(":") { pos += 1; colons += 1; parts.append(nil); continue }
                    parts[parts.count - 1] = try parseExpression()
                }
                try expectOp("]")
                if colons == 0 {
                    guard let i = parts[0] else { throw ChatTemplateError.syntax(message: "empty subscript", position: p) }
                    e = .index(e, i, p)
                } else {
                    guard colons <= 2 else { throw ChatTemplateError.syntax(message: "bad slice", position: p) }
                    e = .slice(e, parts[0], parts[1], parts.count > 2 ? parts[2] : nil, p)
                }
            } else if peekOp("(") {
                pos += 1
                let (a, k) = try parseArguments()
                e = .call(e, a, k, p)
            } else if peekOp("|") {
                pos += 1
                var name = try expectName()
                while peekOp(".") { pos += 1; name += "." + (try expectName()) }
                var a: [TemplateExpr] = [], k: [(String, TemplateExpr)] = []
                if peekOp("(") { pos += 1; (a, k) = try parseArguments() }
                e = .filter(e, name, a, k, p)
            } else if peekName("is") {
                pos += 1
                var negated = false
                if peekName("not") { pos += 1; negated = true }
                let name = try expectName()
                var a: [TemplateExpr] = []
                if peekOp("(") { pos += 1; (a, _) = try parseArguments() }
                else if peek.kind == .string || peek.kind == .integer || peek.kind == .float
                            || (peek.kind == .name && !["and", "or", "if", "else", "not", "in", "is"].contains(peek.text)) {
                    a = [try parsePostfix(try parsePrimary())]
                }
                e = .test(e, name, a, negated: negated, p)
            } else {
                return e
            }
        }
    }
}
