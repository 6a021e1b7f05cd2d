// The byte trie of a Unigram model's pieces: at each position of a word, which pieces start there.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A byte trie over pieces answering "which pieces start here" (all of them, shortest first).
///
/// Nodes live in one flat array of records (byte, first child, child count, terminal id, dense row),
/// numbered breadth first, so the children of a node are consecutive records sorted by byte: a step
/// is a binary search over them, and the child found is already loaded. A node with many children
/// (the root, the node after `▁`, which holds most of a vocabulary's first letters) also has a dense
/// row of 256 child indices, so the first steps of every walk are one load each.
/// Sendable: the storage is written only by init.
struct PieceTrie: @unchecked Sendable {
    private struct Node {
        var firstChild: Int32
        /// The id of the piece ending here, or -1.
        var terminal: Int32
        /// The row of `dense` holding this node's children by byte, or -1.
        var denseRow: Int32
        var childCount: UInt16
        /// The byte leading here from the parent.
        var byte: UInt8
    }

    /// Nodes with at least this many children get a dense row.
    static let denseFrom = 24

    private final class Storage: @unchecked Sendable {
        let nodes: UnsafeMutableBufferPointer<Node>
        let dense: UnsafeMutableBufferPointer<Int32>

        init(nodes: [Node], dense: [Int32]) {
            func copy<T>(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
                let p = UnsafeMutableBufferPointer<T>.allocate(capacity: max(a.count, 1))
                _ = p.initialize(from: a)
                return p
            }
            self.nodes = copy(nodes)
            self.dense = copy(dense)
        }

        deinit {
            nodes.deallocate()
            dense.deallocate()
        }
    }

    private let storage: Storage

    init(keys: [[UInt8]], ids: [Int32]) {
        var arena: [UInt8] = []
        var starts: [Int] = [0]
        for key in keys { arena.append(contentsOf: key); starts.append(arena.count) }
        // In byte order (of equal keys the later id wins), a node's new child always comes after its
        // others, so only its last child is compared, and nodes are built in flat arrays: per node its
        // byte, first and last child and next sibling, then the children laid out together.
        var byte: [UInt8] = [0], first: [Int32] = [-1], last: [Int32] = [-1], sibling: [Int32] = [-1]
        var terminal: [Int32] = [-1]
        arena.withUnsafeBufferPointer { a in
            starts.withUnsafeBufferPointer { st in
                let base = a.baseAddress ?? UnsafePointer(bitPattern: 1)!
                // Sorted by the first 8 bytes as one big-endian number (zero-padded: a key sorts at or
                // before its extensions), the whole keys compared only where those are equal.
                var heads = [UInt64](repeating: 0, count: keys.count)
                for k in keys.indices {
                    var h: UInt64 = 0
                    for i in 0 ..< 8 { h = h << 8 | UInt64(st[k] + i < st[k + 1] ? base[st[k] + i] : 0) }
                    heads[k] = h
                }
                let order = heads.withUnsafeBufferPointer { hd in
                    keys.indices.sorted { x, y in
                        if hd[x] != hd[y] { return hd[x] < hd[y] }
                        let nx = st[x + 1] - st[x], ny = st[y + 1] - st[y]
                        let c = memcmp(base + st[x], base + st[y], min(nx, ny))
                        return c < 0 || (c == 0 && (nx < ny || (nx == ny && x < y)))
                    }
                }
                for k in order where st[k + 1] > st[k] {
                    var node = 0
                    for i in st[k]..<st[k + 1] {
                        let b = base[i]
                        let l = Int(last[node])
                        if l >= 0 && byte[l] == b {
                            node = l
                        } else {
                            let next = Int32(byte.count)
                            byte.append(b); first.append(-1); last.append(-1); sibling.append(-1); terminal.append(-1)
                            if l >= 0 { sibling[l] = next } else { first[node] = next }
                            last[node] = next
                            node = Int(next)
                        }
                    }
                    terminal[node] = ids[k]
                }
            }
        }
        // Breadth first: each node's children (already in byte order) take the next numbers.
        var order: [Int32] = [0]  // built node by new number
        order.reserveCapacity(byte.count)
        var nodes: [Node] = []
        nodes.reserveCapacity(byte.count)
        var dense: [Int32] = []
        var k = 0
        while k < order.count {
            let old = Int(order[k])
            let from = order.count
            var c = Int(first[old])
            while c >= 0 {
                order.append(Int32(c))
                c = Int(sibling[c])
            }
            let count = order.count - from
            var row: Int32 = -1
            if count >= PieceTrie.denseFrom {
                row = Int32(dense.count >> 8)
                dense.append(contentsOf: repeatElement(-1, count: 256))
                for i in from..<order.count { dense[Int(row) << 8 | Int(byte[Int(order[i])])] = Int32(i) }
            }
            nodes.append(Node(firstChild: Int32(from), terminal: terminal[old], denseRow: row, childCount: UInt16(count), byte: byte[old]))
            k += 1
        }
        storage = Storage(nodes: nodes, dense: dense)
    }

    /// The child of `node` by byte `b`, or -1.
    @inline(__always)
    private func child(_ node: Node, _ b: UInt8) -> Int {
        if node.denseRow >= 0 { return Int(storage.dense[Int(node.denseRow) << 8 | Int(b)]) }
        let nodes = storage.nodes
        var lo = Int(node.firstChild), hi = lo + Int(node.childCount)
        while lo < hi {
            let mid = (lo + hi) >> 1
            let c = nodes[mid].byte
            if c == b { return mid }
            if c < b { lo = mid + 1 } else { hi = mid }
        }
        return -1
    }

    /// Calls `body(end, id)` for each piece equal to `text[start..<end]`, in increasing `end`.
    @inline(__always)
    func forEachPrefix(of text: UnsafeBufferPointer<UInt8>, at start: Int, _ body: (Int, Int32) -> Void) {
        let nodes = storage.nodes
        var node = nodes[0]
        var i = start
        while i < text.count {
            let next = child(node, text[i])
            if next < 0 { return }
            node = nodes[next]
            i += 1
            if node.terminal >= 0 { body(i, node.terminal) }
        }
    }

    /// The id of the piece equal to `text`, if any.
    func exactMatch(_ text: UnsafeBufferPointer<UInt8>) -> Int32? {
        let nodes = storage.nodes
        var node = nodes[0]
        for b in text {
            let next = child(node, b)
            if next < 0 { return nil }
            node = nodes[next]
        }
        return node.terminal >= 0 ? node.terminal : nil
    }
}
