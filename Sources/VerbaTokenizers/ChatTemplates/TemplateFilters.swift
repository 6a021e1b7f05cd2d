import Foundation
import VerbaSupport

// Jinja's filters and the global functions transformers gives chat templates.

extension TemplateRenderer {
    func applyFilter(_ name: String, _ v: TemplateValue, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)],
                     _ p: TemplatePosition) throws -> TemplateValue {
        if name == "safe" { return .markup(v.printed) }
        if name == "e" || name == "escape" {
            if case .markup = v { return v }
            return .markup(escapeMarkup(v.printed))
        }
        let v = v.unmarked
        func arg(_ i: Int, _ key: String) -> TemplateValue? {
            if i < args.count { return args[i] }
            return kwargs.first(where: { $0.0 == key })?.1
        }
        func list() throws -> [TemplateValue] { try iterate(v, p) }
        // Jinja's map/select family iterate only a truthy value.
        func truthyList() throws -> [TemplateValue] { v.truthy ? try iterate(v, p) : [] }
        func attr(_ item: TemplateValue, _ path: String) throws -> TemplateValue {
            var cur = item
            for part in path.split(separator: ".") {
                if let i = Int(part) { cur = try subscriptValue(cur, .int(i), p) } else { cur = try attribute(cur, String(part), p) }
            }
            return cur
        }
        switch name {
        case "trim": return .string(pythonStrip(v.printed, arg(0, "chars").map(\.printed)))
        case "upper": return .string(v.printed.uppercased())
        case "lower": return .string(v.printed.lowercased())
        case "capitalize": let s = v.printed; return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "title": return .string(v.printed.capitalized)
        case "string": return .string(v.printed)
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw ChatTemplateError.runtime(message: "object of type '\(v.typeName)' has no len()", position: p)
            }
        case "default", "d":
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return arg(0, "default_value") ?? .string("") }
            return v
        case "first": let l = try list(); return l.first ?? .undefined("first")
        case "last":
            if case .generator = v { throw ChatTemplateError.runtime(message: "'generator' object is not reversible", position: p) }
            let l = try list(); return l.last ?? .undefined("last")
        case "reverse":
            if case .string(let s) = v { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try list().reversed())
        case "list": return .list(try list())
        case "join":
            let sep = arg(0, "d")?.printed ?? ""
            var items = try list()
            if let a = arg(1, "attribute") { items = try items.map { try attr($0, a.printed) } }
            return .string(items.map(\.printed).joined(separator: sep))
        case "replace":
            guard let old = arg(0, "old"), let new = arg(1, "new") else {
                throw ChatTemplateError.runtime(message: "replace needs two arguments", position: p)
            }
            return .string(pythonReplace(v.printed, old.printed, new.printed, arg(2, "count").flatMap { if case .int(let i) = $0 { return i }; return nil } ?? -1))
        case "tojson":
            // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
            var indent: Int? = nil
            if case .int(let n)? = arg(1, "indent") { indent = n }
            var separators: (String, String)? = nil
            if case .list(let seps)? = arg(2, "separators"), seps.count == 2 { separators = (seps[0].printed, seps[1].printed) }
            return .string(try pythonJSON(v, indent: indent, separators: separators, ensureASCII: arg(0, "ensure_ascii")?.truthy ?? false,
                                          sortKeys: arg(3, "sort_keys")?.truthy ?? false))
        case "dictsort":
            guard case .dict(let d) = v else { break }
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let byValue = arg(1, "by")?.printed == "value"
            let reverse = arg(2, "reverse")?.truthy ?? false
            func key(_ x: TemplateValue) -> TemplateValue {
                if !caseSensitive, case .string(let s) = x { return .string(s.lowercased()) }
                return x
            }
            var failed = false
            let sorted = d.enumerated().sorted { a, b in
                let x = key(byValue ? a.element.1 : a.element.0), y = key(byValue ? b.element.1 : b.element.0)
                guard let less = templateLess(x, y), let more = templateLess(y, x) else { failed = true; return false }
                if !less && !more { return a.offset < b.offset }
                return reverse ? more : less
            }
            if failed { throw ChatTemplateError.runtime(message: "dictsort: values cannot be ordered", position: p) }
            return .list(sorted.map { .list([$0.element.0, $0.element.1]) })
        case "sort":
            let reverse = arg(0, "reverse")?.truthy ?? false, caseSensitive = arg(1, "case_sensitive")?.truthy ?? false
            let attribute = arg(2, "attribute")?.printed
            let items = try list()
            let keys = try items.map { item -> TemplateValue in
                let k = try attribute.map { try attr(item, $0) } ?? item
                if !caseSensitive, case .string(let s) = k { return .string(s.lowercased()) }
                return k
            }
            var failed = false
            let order = items.indices.sorted { i, j in
                guard let less = templateLess(keys[i], keys[j]), let more = templateLess(keys[j], keys[i]) else { failed = true; return false }
                if !less && !more { return i < j }
                return reverse ? more : less
            }
            if failed { throw ChatTemplateError.runtime(message: "sort: values cannot be ordered", position: p) }
            return .list(order.map { items[$0] })
        case "min", "max":
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            var items = try list()
            if let a = arg(1, "attribute") { items = try items.map { try attr($0, a.printed) } }
            guard var best = items.first else { return .undefined(name) }
            for x in items.dropFirst() {
                let (l, r): (TemplateValue, TemplateValue) = caseSensitive ? (x, best) : {
                    if case .string(let s) = x, case .string(let t) = best { return (.string(s.lowercased()), .string(t.lowercased())) }
                    return (x, best)
                }()
                guard let less = name == "min" ? templateLess(l, r) : templateLess(r, l) else {
                    throw ChatTemplateError.runtime(message: "\(name): values cannot be ordered", position: p)
                }
                if less { best = x }
            }
            return best
        case "int":
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .int(Int(d))
            case .string(let s): return .int(Int(pythonStrip(s, nil)) ?? 0)
            default: return .int(0)
            }
        case "float":
            switch v {
            case .int(let i): return .double(Double(i))
            case .double: return v
            case .string(let s): return .double(Double(pythonStrip(s, nil)) ?? 0)
            default: return .double(0)
            }
        case "abs":
            if case .int(let i) = v { return .int(abs(i)) }
            if case .double(let d) = v { return .double(abs(d)) }
        case "items":
            if case .dict(let d) = v { return .list(d.map { .list([$0.0, $0.1]) }) }
            if v.isUndefined { return .list([]) }
        case "map":
            if let a = kwargs.first(where: { $0.0 == "attribute" })?.1 {
                return .generator(try truthyList().map { item in
                    let r = try attr(item, a.printed)
                    if r.isUndefined, let d = kwargs.first(where: { $0.0 == "default" })?.1 { return d }
                    return r
                })
            }
            guard let f = args.first else { break }
            return .generator(try truthyList().map { try applyFilter(f.printed, $0, Array(args.dropFirst()), [], p) })
        case "selectattr", "rejectattr", "select", "reject":
            let byAttr = name.hasSuffix("attr")
            var rest = args
            var key = ""
            if byAttr {
                guard let a = rest.first else { throw ChatTemplateError.runtime(message: "\(name) needs an attribute", position: p) }
                key = a.printed; rest.removeFirst()
            }
            let test = rest.first?.printed
            let testArgs = Array(rest.dropFirst())
            let keep = name.hasPrefix("select")
            return .generator(try truthyList().filter { item in
                let x = byAttr ? try attr(item, key) : item
                let r = try test.map { try applyTest($0, x, testArgs, p) } ?? x.truthy
                return r == keep
            })
        case "indent":
            var indention = String(repeating: " ", count: 4)
            if let w = arg(0, "width") { if case .int(let n) = w { indention = String(repeating: " ", count: max(n, 0)) } else { indention = w.printed } }
            let first = arg(1, "first")?.truthy ?? false, blank = arg(2, "blank")?.truthy ?? false
            var lines = pythonSplitLines(v.printed + "\n")
            var text: String
            if blank { text = lines.joined(separator: "\n" + indention) } else {
                text = lines.removeFirst()
                if !lines.isEmpty { text += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
            }
            return .string(first ? indention + text : text)
        case "round":
            let precision = arg(0, "precision").flatMap { x -> Int? in if case .int(let i) = x { return i }; return nil } ?? 0
            let method = arg(1, "method")?.printed ?? "common"
            // Python's round(): an int stays an int; floats round half to even.
            if case .int = v, method == "common", precision >= 0 { return v }
            guard let x = { () -> Double? in
                switch v { case .int(let i): return Double(i); case .double(let d): return d; default: return nil }
            }() else { break }
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : (method == "floor" ? .down : .toNearestOrEven)
            return .double((x * scale).rounded(rule) / scale)
        case "unique":
            var seen: [TemplateValue] = []
            for x in try list() where !seen.contains(where: { templateEqual($0, x) }) { seen.append(x) }
            return .list(seen)
        case "sum":
            var total: TemplateValue = arg(1, "start") ?? .int(0)
            for x in try list() { total = try binary("+", total, x, p) }
            return total
        default: break
        }
        throw ChatTemplateError.unsupported(construct: "filter '\(name)' on \(v.typeName)", position: p)
    }

    /// The global functions: `raise_exception`, `namespace`, `strftime_now` (formatting `now`, or the
    /// current time when nil), `range`, `dict`.
    static func globalFunctions(now: Date? = nil) -> [String: TemplateValue] {
        var g: [String: TemplateValue] = [:]
        g["raise_exception"] = .callable(TemplateCallable(name: "raise_exception") { args, _ in
            throw ChatTemplateError.raised(message: args.first?.printed ?? "")
        })
        g["namespace"] = .callable(TemplateCallable(name: "namespace") { args, kwargs in
            var attrs: [(String, TemplateValue)] = []
            if case .dict(let d) = args.first ?? .none { attrs = d.map { ($0.0.printed, $0.1) } }
            for (k, v) in kwargs {
                if let i = attrs.firstIndex(where: { $0.0 == k }) { attrs[i].1 = v } else { attrs.append((k, v)) }
            }
            return .namespace(TemplateNamespace(attrs))
        })
        g["dict"] = .callable(TemplateCallable(name: "dict") { args, kwargs in
            var attrs: [(TemplateValue, TemplateValue)] = []
            if case .dict(let d) = args.first ?? .none { attrs = d }
            for (k, v) in kwargs {
                if let i = attrs.firstIndex(where: { templateEqual($0.0, .string(k)) }) { attrs[i].1 = v } else { attrs.append((.string(k), v)) }
            }
            return .dict(attrs)
        })
        g["range"] = .callable(TemplateCallable(name: "range") { args, _ in
            let ints = args.compactMap { v -> Int? in if case .int(let i) = v { return i }; return nil }
            guard ints.count == args.count, (1...3).contains(ints.count) else {
                throw ChatTemplateError.runtime(message: "range() takes one to three integers", position: TemplatePosition?.none)
            }
            let (start, stop) = ints.count == 1 ? (0, ints[0]) : (ints[0], ints[1])
            let step = ints.count == 3 ? ints[2] : 1
            guard step != 0 else { throw ChatTemplateError.runtime(message: "range() step must not be zero", position: TemplatePosition?.none) }
            guard (stop - start) / step < 1_000_000 else { throw ChatTemplateError.runtime(message: "range() too long", position: TemplatePosition?.none) }
            return .list(stride(from: start, to: stop, by: step).map { .int($0) })
        })
        g["strftime_now"] = .callable(TemplateCallable(name: "strftime_now") { args, _ in
            .string(strftimeNow(args.first?.printed ?? "", at: now))
        })
        return g
    }
}

/// The local time `date` (default: now), formatted by the C library's `strftime` (which Python's
/// `datetime.strftime` uses).
func strftimeNow(_ format: String, at date: Date? = nil) -> String {
    var now = date.map { time_t($0.timeIntervalSince1970) } ?? time(nil)
    var parts = tm()
    localtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 512)
    let n = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
