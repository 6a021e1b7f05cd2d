// The key/value cache of a decoder: for every layer, the keys and values of every position seen so far,
// so that a decode step attends over the past without recomputing it.
//
// Storage is allocated once, for the whole context, and written in place at the current offset; nothing
// is ever concatenated or moved. The layout is (layer, head, position, headSize): the keys of one head
// are a contiguous (positions, headSize) matrix, which attention reads as one block. The memory is not
// cleared: the operating system maps pages only when a position is first written, so a short
// generation in a long context keeps a small resident size.

/// A preallocated per-layer key/value cache for `capacity` positions.
///
/// ```swift
/// let model = try GPT2Model(folder: "models/gpt2")
/// let cache = model.makeCache()
/// var logits = try model.logits(for: [15496, 995], cache: cache)   // prefill: cache.count == 2
/// let next = logits.indices.max { logits[$0] < logits[$1] }!
/// logits = try model.logits(for: [next], cache: cache)             // one decode step: cache.count == 3
/// cache.truncate(to: 2)                                             // forget that step
/// ```
public final class KVCache {
    /// Number of layers.
    public let layerCount: Int
    /// Key/value heads per layer (the attention heads, or fewer with grouped-query attention).
    public let headCount: Int
    /// Floats per head.
    public let headSize: Int
    /// Positions the cache can hold (the model's context length).
    public let capacity: Int
    /// Positions written so far; the next token goes at this position.
    public private(set) var count: Int = 0

    /// The scratch buffers of the model that runs this cache's sequence, and which model that is.
    private var workspace: AnyObject?
    private var workspaceOwner: ObjectIdentifier?

    /// The scratch buffers `model` keeps for this cache's sequence: made by `make` on the first forward
    /// pass and kept here, so that sequences running at once on different caches never share buffers.
    func workspace<W: AnyObject>(of model: AnyObject, _ make: () -> W) -> W {
        if let w = workspace as? W, workspaceOwner == ObjectIdentifier(model) { return w }
        let w = make()
        workspace = w
        workspaceOwner = ObjectIdentifier(model)
        return w
    }

    private let keys: [UnsafeMutablePointer<Float>]    // per layer: (H, capacity, hd)
    private let values: [UnsafeMutablePointer<Float>]  // per layer: (H, capacity, hd)

    /// A cache for `layers` layers of `heads` heads of `headSize` floats, `capacity` positions long.
    /// - Complexity: allocates 2·layers·heads·capacity·headSize floats (touched lazily).
    package init(layers: Int, heads: Int, headSize: Int, capacity: Int) {
        precondition(layers > 0 && heads > 0 && headSize > 0 && capacity > 0, "KVCache: empty dimensions")
        layerCount = layers
        self.headCount = heads
        self.headSize = headSize
        self.capacity = capacity
        let per = heads * capacity * headSize
        keys = (0..<layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: per) }
        values = (0..<layers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: per) }
    }

    deinit {
        for p in keys { p.deallocate() }
        for p in values { p.deallocate() }
    }

    /// Positions still free.
    public var remaining: Int { capacity - count }

    /// Forgets every position (the storage is reused).
    public func reset() { count = 0 }

    /// Forgets the positions from `newCount` on (keeps the first `newCount`).
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "KVCache.truncate: \(newCount) outside 0...\(count)")
        count = newCount
    }

    /// Keys of `head` in `layer`: (capacity, headSize), rows 0..<count (plus any rows being written) valid.
    func keys(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        keys[layer] + head * capacity * headSize
    }

    /// Values of `head` in `layer`: (capacity, headSize).
    func values(layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        values[layer] + head * capacity * headSize
    }

    /// Stores the keys and values of `rows` new positions of `layer`, starting at position `count`
    /// (not yet advanced), from a fused projection block `qkv` (rows, 3C) whose columns C..<2C are the
    /// keys and 2C..<3C the values, heads side by side.
    func store(layer: Int, qkv: UnsafePointer<Float>, rows: Int) {
        let c = headCount * headSize
        store(layer: layer, keys: qkv + c, values: qkv + 2 * c, rowStride: 3 * c, rows: rows)
    }

    /// Stores the keys and values of `rows` new positions of `layer`, starting at position `count` (not yet
    /// advanced): row r's keys are `keys + r·rowStride` (heads side by side, headCount·headSize floats), and
    /// likewise its values. Grouped-query models store their key/value heads (fewer than the query heads).
    func store(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rowStride: Int, rows: Int) {
        precondition(count + rows <= capacity, "KVCache.store: \(count) + \(rows) positions exceed \(capacity)")
        precondition(rowStride >= headCount * headSize, "KVCache.store: row stride too small")
        for h in 0..<headCount {
            let kDest = keys(layer: layer, head: h) + count * headSize
            let vDest = values(layer: layer, head: h) + count * headSize
            for r in 0..<rows {
                (kDest + r * headSize).update(from: k + r * rowStride + h * headSize, count: headSize)
                (vDest + r * headSize).update(from: v + r * rowStride + h * headSize, count: headSize)
            }
        }
    }

    /// Marks `rows` positions as written (after every layer has stored them).
    func advance(by rows: Int) {
        precondition(count + rows <= capacity, "KVCache.advance: past capacity")
        count += rows
    }
}
