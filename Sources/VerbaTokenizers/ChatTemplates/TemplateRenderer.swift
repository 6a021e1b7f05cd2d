// Evaluates a parsed chat template: Jinja's semantics for scopes, loops, undefined values and
// operators, with Python's rules for the values.

final class TemplateRenderer {
    var scopes: [[String: TemplateValue]]
    var out = ""
    /// Macro calls in progress; bounded as Python bounds recursion.
    var callDepth = 0

    enum Flow { case normal, breakLoop, continueLoop }

    init(globals: [String: TemplateValue]) { scopes = [globals] }

    func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined(name)
    }

    func assign(_ name: String, _ value: TemplateValue) { scopes[scopes.count - 1][name] = value }

    // MARK: statements

    func render(_ nodes: [TemplateNode]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let s): out += s
            case .output(let e): out += try evaluate(e).printed
            case .ifBlock(let branches, let otherwise):
                var taken = false
                for (cond, body) in branches where try evaluate(cond).truthy {
                    taken = true
                    let f = try render(body); if f != .normal { return f }
                    break
                }
                if !taken { let f = try render(otherwise); if f != .normal { return f } }
            case .forBlock(let targets, let iterable, let filter, let body, let otherwise, let p):
                try renderFor(targets, iterable, filter, body, otherwise, p)
            case .set(let target, let attribute, let e, let p):
                let v = try evaluate(e)
                if let attribute {
                    guard case .namespace(let ns) = lookup(target) else {
                        throw ChatTemplateError.runtime(message: "cannot assign attribute on non-namespace object", position: p)
                    }
                    ns[attribute] = v
                } else { assign(target, v) }
            case .setMany(let targets, let e, let p):
                let parts = try iterate(try evaluate(e), p)
                guard parts.count == targets.count else {
                    throw ChatTemplateError.runtime(message: "cannot unpack \(parts.count) values into \(targets.count) names", position: p)
                }
                for (t, v) in zip(targets, parts) { assign(t, v) }
            case .setBlock(let target, let body):
                let text = try capture(body)
                assign(target, .string(text))
            case .macro(let name, let parameters, let body):
                assign(name, .callable(makeMacro(name, parameters, body)))
            case .filterBlock(let name, let args, let kwargs, let body, let p):
                let text = try capture(body)
                out += try applyFilter(name, .string(text), try args.map(evaluate),
                                       try kwargs.map { ($0.0, try evaluate($0.1)) }, p).printed
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    func capture(_ body: [TemplateNode]) throws -> String {
        let saved = out
        out = ""
        defer { out = saved }
        _ = try render(body)
        return out
    }

    func makeMacro(_ name: String, _ parameters: [(String, TemplateExpr?)], _ body: [TemplateNode]) -> TemplateCallable {
        TemplateCallable(name: name) { [unowned self] args, kwargs in
            var locals: [String: TemplateValue] = [:]
            for (i, (pname, def)) in parameters.enumerated() {
                if i < args.count { locals[pname] = args[i] }
                else if let kv = kwargs.first(where: { $0.0 == pname }) { locals[pname] = kv.1 }
                else if let def { locals[pname] = try self.evaluate(def) }
                else { locals[pname] = .undefined(pname) }
            }
            guard self.callDepth < 200 else {
                throw ChatTemplateError.runtime(message: "maximum recursion depth exceeded in macro \(name)", position: TemplatePosition?.none)
            }
            self.callDepth += 1
            defer { self.callDepth -= 1 }
            let savedScopes = self.scopes
            self.scopes = [savedScopes[0], locals]
            defer { self.scopes = savedScopes }
            return .string(try self.capture(body))
        }
    }

    func iterate(_ v: TemplateValue, _ p: TemplatePosition) throws -> [TemplateValue] {
        let v = v.unmarked
        switch v {
        case .undefined: return []
        case .list(let l), .generator(let l): return l
        case .dict(let d): return d.map { $0.0 }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        default: throw ChatTemplateError.runtime(message: "'\(v.typeName)' object is not iterable", position: p)
        }
    }

    func renderFor(_ targets: [String], _ iterable: TemplateExpr, _ filter: TemplateExpr?, _ body: [TemplateNode],
                   _ otherwise: [TemplateNode], _ p: TemplatePosition) throws {
        let all = try iterate(try evaluate(iterable), p)
        var items: [TemplateValue] = []
        func bind(_ item: TemplateValue) throws {
            if targets.count == 1 { assign(targets[0], item); return }
            guard case .list(let parts) = item, parts.count == targets.count else {
                throw ChatTemplateError.runtime(message: "cannot unpack \(item.typeName) into \(targets.count) names", position: p)
            }
            for (t, v) in zip(targets, parts) { assign(t, v) }
        }
        if let filter {
            for item in all {
                scopes.append([:]); defer { scopes.removeLast() }
                try bind(item)
                if try evaluate(filter).truthy { items.append(item) }
            }
        } else { items = all }
        if items.isEmpty { _ = try render(otherwise); return }
        let n = items.count
        for (i, item) in items.enumerated() {
            scopes.append([:])
            defer { scopes.removeLast() }
            let loop: [(String, TemplateValue)] = [
                ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
                ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)),
                ("previtem", i > 0 ? items[i - 1] : .undefined("previtem")),
                ("nextitem", i + 1 < n ? items[i + 1] : .undefined("nextitem")),
                ("cycle", .callable(TemplateCallable(name: "cycle") { args, _ in
                    args.isEmpty ? .undefined("cycle") : args[i % args.count] })),
            ]
            assign("loop", .dict(loop.map { (.string($0.0), $0.1) }))
            try bind(item)
            if try render(body) == .breakLoop { break }
        }
    }

    // MARK: expressions

    func evaluate(_ e: TemplateExpr) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n, _): return lookup(n)
        case .list(let items): return .list(try items.map(evaluate))
        case .dict(let items, let p):
            var d: [(TemplateValue, TemplateValue)] = []
            for (k, v) in items {
                let key = try evaluate(k)
                switch key {
                case .string, .int, .double, .bool, .none: break
                default: throw ChatTemplateError.runtime(message: "unhashable type: '\(key.typeName)'", position: p)
                }
                let value = try evaluate(v)
                if let i = d.firstIndex(where: { templateEqual($0.0, key) }) { d[i].1 = value } else { d.append((key, value)) }
            }
            return .dict(d)
        case .attribute(let base, let name, let p):
            return try attribute(try evaluate(base), name, p)
        case .index(let base, let idx, let p):
            let b = try evaluate(base), i = try evaluate(idx)
            if case .string(let key) = i {
                if case .dict = b {} else { return try attribute(b, key, p) }
            }
            return try subscriptValue(b, i, p)
        case .slice(let base, let a, let b, let c, let p):
            return try slice(try evaluate(base), try a.map(evaluate), try b.map(evaluate), try c.map(evaluate), p)
        case .call(let callee, let args, let kwargs, let p):
            let a = try args.map(evaluate)
            let k = try kwargs.map { ($0.0, try evaluate($0.1)) }
            if case .attribute(let base, let name, _) = callee {
                let b = try evaluate(base)
                if let r = try callMethod(b, name, a, k, p) { return r }
            }
            let f = try evaluate(callee)
            guard case .callable(let c) = f else {
                if case .undefined(let n) = f { throw ChatTemplateError.runtime(message: "'\(n)' is undefined", position: p) }
                throw ChatTemplateError.runtime(message: "'\(f.typeName)' object is not callable", position: p)
            }
            return try c.call(a, k)
        case .filter(let base, let name, let args, let kwargs, let p):
            let v = try evaluate(base)
            return try applyFilter(name, v, try args.map(evaluate), try kwargs.map { ($0.0, try evaluate($0.1)) }, p)
        case .test(let base, let name, let args, let negated, let p):
            let r = try applyTest(name, try evaluate(base), try args.map(evaluate), p)
            return .bool(r != negated)
        case .unary(let op, let x, let p):
            let v = try evaluate(x)
            if op == "not" { return .bool(!v.truthy) }
            switch v {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            default: throw ChatTemplateError.runtime(message: "bad operand type for unary -: '\(v.typeName)'", position: p)
            }
        case .and(let a, let b):
            let l = try evaluate(a); return l.truthy ? try evaluate(b) : l
        case .or(let a, let b):
            let l = try evaluate(a); return l.truthy ? l : try evaluate(b)
        case .conditional(let a, let cond, let otherwise):
            if try evaluate(cond).truthy { return try evaluate(a) }
            return try otherwise.map(evaluate) ?? .undefined("conditional")
        case .binary(let op, let a, let b, let p):
            return try binary(op, try evaluate(a), try evaluate(b), p)
        }
    }

    func attribute(_ b: TemplateValue, _ name: String, _ p: TemplatePosition) throws -> TemplateValue {
        switch b {
        case .undefined(let n): throw ChatTemplateError.runtime(message: "'\(n)' is undefined", position: p)
        case .dict(let d): return d.first(where: { templateEqual($0.0, .string(name)) })?.1 ?? .undefined(name)
        case .namespace(let ns): return ns[name] ?? .undefined(name)
        default: return .undefined(name)
        }
    }

    func subscriptValue(_ b: TemplateValue, _ i: TemplateValue, _ p: TemplatePosition) throws -> TemplateValue {
        let b = b.unmarked, i = i.unmarked
        switch (b, i) {
        case (.undefined(let n), _): throw ChatTemplateError.runtime(message: "'\(n)' is undefined", position: p)
        case (.list(let l), .int(let k)):
            let j = k < 0 ? k + l.count : k
            return j >= 0 && j < l.count ? l[j] : .undefined("index")
        case (.string(let s), .int(let k)):
            let u = Array(s.unicodeScalars)
            let j = k < 0 ? k + u.count : k
            return j >= 0 && j < u.count ? .string(String(u[j])) : .undefined("index")
        case (.dict(let d), _):
            return d.first(where: { templateEqual($0.0, i) })?.1 ?? .undefined(i.printed)
        default: return .undefined("index")
        }
    }

    func slice(_ v: TemplateValue, _ a: TemplateValue?, _ b: TemplateValue?, _ c: TemplateValue?,
               _ p: TemplatePosition) throws -> TemplateValue {
        let v = v.unmarked
        func int(_ x: TemplateValue?) throws -> Int? {
            guard let x else { return nil }
            switch x {
            case .none: return nil
            case .int(let i): return i
            default: throw ChatTemplateError.runtime(message: "slice indices must be integers or None", position: p)
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw ChatTemplateError.runtime(message: "slice step cannot be zero", position: p) }
        func indices(_ n: Int) throws -> [Int] {
            func clamp(_ x: Int?, _ def: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                return step > 0 ? min(max(x, 0), n) : min(max(x, -1), n - 1)
            }
            let start = clamp(try int(a), step > 0 ? 0 : n - 1)
            let stop = clamp(try int(b), step > 0 ? n : -1)
            return Array(stride(from: start, to: stop, by: step))
        }
        switch v {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .string(let s):
            let u = Array(s.unicodeScalars)
            var r = String.UnicodeScalarView()
            for i in try indices(u.count) { r.append(u[i]) }
            return .string(String(r))
        case .undefined(let n): throw ChatTemplateError.runtime(message: "'\(n)' is undefined", position: p)
        default: throw ChatTemplateError.runtime(message: "'\(v.typeName)' object is not subscriptable", position: p)
        }
    }
}
