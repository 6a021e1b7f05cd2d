#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbaSupport
import VerbaSupport
import Foundation

// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
// N bytes of UTF-8 JSON mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section that follows the header) plus an optional "__metadata__" object of
// strings, then the raw little-endian tensor bytes. Files are memory-mapped read-only and validated fully
// before any tensor is handed out, so a damaged file gives a typed error, never a crash.

/// An error reading or writing a safetensors file; every case names the file, and the tensor where there is one.
///
/// Model initializers pass it on when a weights file is damaged:
///
/// ```swift
/// do {
///     let model = try GPT2Model(folder: "models/gpt2")
/// } catch let error as SafeTensorsError {
///     print(error)   // e.g. "models/gpt2/model.safetensors: truncated safetensors file (3 bytes, ...)"
/// }
/// ```
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened, sized or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file is shorter than the 8-byte header length.
    case truncated(path: String, size: Int)
    /// The header length field points past the end of the file (or above the 100 MB limit).
    case headerLengthOutOfBounds(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON.
    case invalidJSON(path: String, detail: String)
    /// The JSON is well formed but not a safetensors header (wrong types, missing fields, bad metadata).
    case invalidHeader(path: String, detail: String)
    /// A tensor declares a dtype this reader does not know.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// shape product × dtype size differs from the tensor's byte count.
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, byteCount: Int)
    /// A tensor's data range lies (partly) outside the data section.
    case rangeOutOfBounds(path: String, tensor: String, begin: Int, end: Int, dataSize: Int)
    /// Two tensors' data ranges overlap.
    case overlappingRanges(path: String, first: String, second: String)
    /// The requested tensor is not in the file.
    case missingTensor(path: String, tensor: String)
    /// The tensor exists with a different shape than the caller expects.
    case shapeMismatch(path: String, tensor: String, actual: [Int], expected: [Int])
    /// The tensor's dtype cannot be read as float32.
    case unsupportedConversion(path: String, tensor: String, dtype: String)
    /// Writing the file failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        func dims(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ",") + "]" }
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open safetensors file: \(reason)"
        case let .truncated(path, size):
            return "\(path): truncated safetensors file (\(size) bytes, need at least 8 for the header length)"
        case let .headerLengthOutOfBounds(path, length, size):
            return "\(path): safetensors header length \(length) does not fit in the file (\(size) bytes)"
        case let .invalidJSON(path, detail): return "\(path): safetensors header is not valid JSON: \(detail)"
        case let .invalidHeader(path, detail): return "\(path): invalid safetensors header: \(detail)"
        case let .unknownDType(path, tensor, dtype): return "\(path): tensor \(tensor) has unknown dtype \"\(dtype)\""
        case let .sizeMismatch(path, tensor, shape, dtype, bytes):
            return "\(path): tensor \(tensor) has shape \(dims(shape)) of \(dtype) but \(bytes) bytes of data"
        case let .rangeOutOfBounds(path, tensor, begin, end, dataSize):
            return "\(path): tensor \(tensor) data_offsets [\(begin),\(end)] lie outside the data section (\(dataSize) bytes)"
        case let .overlappingRanges(path, first, second):
            return "\(path): tensors \(first) and \(second) have overlapping data ranges"
        case let .missingTensor(path, tensor): return "\(path): no tensor named \(tensor)"
        case let .shapeMismatch(path, tensor, actual, expected):
            return "\(path): tensor \(tensor) has shape \(dims(actual)), expected \(dims(expected))"
        case let .unsupportedConversion(path, tensor, dtype):
            return "\(path): tensor \(tensor) has dtype \(dtype), which cannot be read as float32"
        case let .writeFailed(path, reason): return "\(path): cannot write safetensors file: \(reason)"
        }
    }
}

/// The element types of the safetensors format; training runs take one as the storage type of the weights
/// they export (F32, F16 or BF16).
///
/// ```swift
/// var options = LMTrainingOptions()
/// options.exportDType = .bf16                      // half the file size of .f32
/// print(DType.bf16.rawValue, DType.bf16.size)      // "BF16 2"
/// ```
public enum DType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }
}

/// One tensor's entry in a safetensors header. `byteRange` is relative to the start of the file.
package struct TensorInfo: Sendable, Equatable {
    package let name: String
    package let dtype: DType
    public let shape: [Int]
    package let byteRange: Range<Int>
    /// Number of elements (1 for a scalar of shape []).
    package var count: Int { shape.reduce(1, *) }
}

/// A memory-mapped, fully validated safetensors file. Tensors handed out as `FloatTensor` may borrow the
/// mapping; they keep this object (and so the mapping) alive.
/// Sendable: immutable after init (every stored property is a `let`; the mapping is `PROT_READ` and is
/// only unmapped in deinit), so concurrent calls only read.
package final class SafeTensorsFile: @unchecked Sendable {
    /// The path the file was opened from.
    package let path: String
    /// Every tensor of the file by name.
    package let tensors: [String: TensorInfo]
    /// The `__metadata__` strings (empty when absent).
    package let metadata: [String: String]
    /// Offset of the data section from the start of the file (8 + header length).
    package let dataOffset: Int
    private let base: UnsafeRawPointer?
    private let mappedSize: Int

    /// Maps `path` read-only and validates its header (see `SafeTensorsError` for what is checked).
    /// - Complexity: O(header size + tensors · log tensors); tensor data is not read.
    package init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw SafeTensorsError.cannotOpen(path: path, reason: errnoText()) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw SafeTensorsError.cannotOpen(path: path, reason: errnoText()) }
        if (st.st_mode & S_IFMT) != S_IFREG { throw SafeTensorsError.cannotOpen(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size < 8 { throw SafeTensorsError.truncated(path: path, size: size) }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw SafeTensorsError.cannotOpen(path: path, reason: "mmap: " + errnoText())
        }
        let raw = UnsafeRawPointer(map)
        do {
            let headerLength = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
            guard headerLength <= 100_000_000, headerLength <= UInt64(size - 8) else {
                throw SafeTensorsError.headerLengthOutOfBounds(path: path, headerLength: headerLength, fileSize: size)
            }
            let header = UnsafeRawBufferPointer(start: raw + 8, count: Int(headerLength))
            let parsed = try SafeTensorsFile.parseHeader(header, path: path, fileSize: size)
            tensors = parsed.tensors
            metadata = parsed.metadata
            dataOffset = 8 + Int(headerLength)
        } catch {
            munmap(map, size)
            throw error
        }
        base = raw
        mappedSize = size
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }
    }

    /// Tensor names in file order (by data offset).
    package var names: [String] { tensors.values.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }.map(\.name) }

    /// The entry for `name`; throws `missingTensor` naming the tensor and the file.
    package func info(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(path: path, tensor: name) }
        return info
    }

    /// The raw little-endian bytes of tensor `name`, valid while this file object lives.
    package func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let info = try info(name)
        return UnsafeRawBufferPointer(start: base! + info.byteRange.lowerBound, count: info.byteRange.count)
    }

    /// The tensor as float32: a zero-copy view into the mapping when the dtype is F32 and the data is 4-byte
    /// aligned, else a converted owned copy (F32 unaligned, F16, BF16, F64). With `expected`, the shape must
    /// match exactly (`shapeMismatch` otherwise).
    package func floats(_ name: String, shape expected: [Int]? = nil) throws -> FloatTensor {
        let info = try info(name)
        if let expected, expected != info.shape {
            throw SafeTensorsError.shapeMismatch(path: path, tensor: name, actual: info.shape, expected: expected)
        }
        let source = base! + info.byteRange.lowerBound
        let count = info.count
        switch info.dtype {
        case .f32:
            if Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
                let p = UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Float.self))
                return FloatTensor(borrowing: p, shape: info.shape, owner: self)
            }
            let t = FloatTensor(shape: info.shape)
            UnsafeMutableRawPointer(t.pointer).copyMemory(from: source, byteCount: count * 4)
            return t
        case .f16:
            let t = FloatTensor(shape: info.shape)
            convertHalfToFloat(source, t.pointer, count: count)
            return t
        case .bf16:
            let t = FloatTensor(shape: info.shape)
            convertBFloat16ToFloat(source, t.pointer, count: count)
            return t
        case .f64:
            let t = FloatTensor(shape: info.shape)
            for i in 0..<count { t.pointer[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            return t
        default:
            throw SafeTensorsError.unsupportedConversion(path: path, tensor: name, dtype: info.dtype.rawValue)
        }
    }

    // MARK: Header validation

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String, fileSize: Int) throws
        -> (tensors: [String: TensorInfo], metadata: [String: String]) {
        let root: JSONValue
        do {
            root = try parseJSON(bytes, options: .strict)
        } catch let error as JSONParseError {
            throw SafeTensorsError.invalidJSON(path: path, detail: "header: " + error.message)
        }
        guard case .object(let entries) = root else {
            throw SafeTensorsError.invalidHeader(path: path, detail: "the header is not a JSON object")
        }
        let dataStart = 8 + bytes.count
        let dataSize = fileSize - dataStart
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        var ranges: [(name: String, begin: Int, end: Int)] = []
        for (name, value) in entries {
            if name == "__metadata__" {
                guard case .object(let items) = value else {
                    throw SafeTensorsError.invalidHeader(path: path, detail: "__metadata__ is not an object")
                }
                for (key, item) in items {
                    guard case .string(let s) = item else {
                        throw SafeTensorsError.invalidHeader(path: path, detail: "__metadata__ value \(key) is not a string")
                    }
                    metadata[key] = s
                }
                continue
            }
            func bad(_ what: String) -> SafeTensorsError {
                .invalidHeader(path: path, detail: "tensor \(name): \(what)")
            }
            guard case .object(let fields) = value else { throw bad("entry is not an object") }
            var dtypeName: String?, shape: [Int]?, offsets: [Int]?
            for (key, field) in fields {
                switch key {
                case "dtype":
                    guard case .string(let s) = field else { throw bad("dtype is not a string") }
                    dtypeName = s
                case "shape":
                    guard case .array(let items) = field else { throw bad("shape is not an array") }
                    shape = try items.map { item -> Int in
                        guard case .int(let d) = item, d >= 0 else { throw bad("shape holds a non-integer or negative dimension") }
                        return d
                    }
                case "data_offsets":
                    guard case .array(let items) = field, items.count == 2 else { throw bad("data_offsets is not a pair") }
                    offsets = try items.map { item -> Int in
                        guard case .int(let o) = item, o >= 0 else { throw bad("data_offsets holds a non-integer or negative offset") }
                        return o
                    }
                default:
                    throw bad("unexpected field \"\(key)\"")
                }
            }
            guard let dtypeName else { throw bad("missing dtype") }
            guard let shape else { throw bad("missing shape") }
            guard let offsets else { throw bad("missing data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw SafeTensorsError.unknownDType(path: path, tensor: name, dtype: dtypeName)
            }
            let begin = offsets[0], end = offsets[1]
            guard begin <= end, end <= dataSize else {
                throw SafeTensorsError.rangeOutOfBounds(path: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
            }
            var elements = 1
            for d in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else { throw SafeTensorsError.sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtypeName, byteCount: end - begin) }
                elements = product
            }
            let (bytesNeeded, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, bytesNeeded == end - begin else {
                throw SafeTensorsError.sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtypeName, byteCount: end - begin)
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: (dataStart + begin)..<(dataStart + end))
            ranges.append((name, begin, end))
        }
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var previous: (name: String, end: Int)?
        for r in ranges where r.end > r.begin {              // empty tensors occupy no bytes
            if let p = previous, r.begin < p.end {
                throw SafeTensorsError.overlappingRanges(path: path, first: p.name, second: r.name)
            }
            previous = (r.name, r.end)
        }
        return (tensors, metadata)
    }
}

/// Contiguous float32 storage: either borrowed from a memory mapping (kept alive by `owner`; never write
/// through `pointer` then, the mapping is read-only) or owned (64-byte aligned, freed on deinit).
///
/// ```swift
/// let embedder = try Embedder(folder: "models/all-MiniLM-L6-v2")
/// let (vectors, _) = try embedder.embed(bytes: [Array("Hello".utf8), Array("world".utf8)])
/// print(vectors.shape)                  // [2, 384]
/// let first = Array(vectors.toArray()[0..<vectors.shape[1]])
/// ```
/// Sendable: its properties never change after init, and users of the library can only read the floats;
/// inside the package a tensor is written only by the code that made it, before it is handed out.
public final class FloatTensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Number of elements.
    public let count: Int
    /// First element.
    package let pointer: UnsafeMutablePointer<Float>
    private let owner: AnyObject?
    private let owned: Bool

    /// A zero-filled owned tensor.
    package init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "FloatTensor: negative dimension")
        self.shape = shape
        count = shape.reduce(1, *)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        pointer = raw.assumingMemoryBound(to: Float.self)
        owner = nil
        owned = true
    }

    /// An owned tensor holding `values` (whose count must equal the shape's product).
    package convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "FloatTensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of `shape.product` floats at `pointer`, valid while `owner` lives (the tensor retains it).
    package init(borrowing pointer: UnsafeMutablePointer<Float>, shape: [Int], owner: AnyObject?) {
        self.shape = shape
        count = shape.reduce(1, *)
        self.pointer = pointer
        self.owner = owner
        owned = false
    }

    deinit { if owned { UnsafeMutableRawPointer(pointer).deallocate() } }

    /// The elements as a buffer.
    public var buffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }

    /// Whether the data belongs to this tensor (false: borrowed from a mapping, read-only).
    package var isOwned: Bool { owned }

    /// Element `i` of the flat storage (read-only to users of the library: a tensor may be borrowed
    /// from a read-only mapping).
    public subscript(i: Int) -> Float {
        get { precondition(i >= 0 && i < count); return pointer[i] }
    }

    /// A copy of the elements.
    public func toArray() -> [Float] { Array(buffer) }

    /// An owned copy (use before writing to a tensor that may be borrowed from a mapping).
    public func copy() -> FloatTensor {
        let t = FloatTensor(shape: shape)
        t.pointer.update(from: pointer, count: count)
        return t
    }
}

/// Writes safetensors files.
package enum SafeTensorsWriter {
    /// Writes `tensors` in order (each stored as `dtype`: F32, F16 or BF16) with `metadata` to `path`, atomically:
    /// the bytes go to a temporary file in the same folder, which is flushed with fsync and renamed over `path`.
    package static func write(_ tensors: [(name: String, tensor: FloatTensor, dtype: DType)],
                             metadata: [String: String], to path: String) throws {
        var seen = Set<String>()
        var header = "{"
        var first = true
        func append(_ s: String) { header += (first ? "" : ",") + s; first = false }
        if !metadata.isEmpty {
            let items = metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }
            append("\"__metadata__\":{" + items.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, tensor, dtype) in tensors {
            guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
                throw SafeTensorsError.writeFailed(path: path, reason: "tensor \(name): cannot store as \(dtype.rawValue) (F32, F16 or BF16 only)")
            }
            guard name != "__metadata__", seen.insert(name).inserted else {
                throw SafeTensorsError.writeFailed(path: path, reason: "duplicate or reserved tensor name \(name)")
            }
            let bytes = tensor.count * dtype.size
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            append("\(jsonQuoted(name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }   // pad so the data section is 8-byte aligned

        do {
            try writeFileAtomically(to: path) { file in
                var length = UInt64(headerBytes.count).littleEndian
                try withUnsafeBytes(of: &length) { try file.write($0) }
                try headerBytes.withUnsafeBytes { try file.write($0) }
                let chunk = 1 << 16
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: chunk * 4, alignment: 64)
                defer { scratch.deallocate() }
                for (_, tensor, dtype) in tensors {
                    var i = 0
                    while i < tensor.count {
                        let n = min(chunk, tensor.count - i)
                        switch dtype {
                        case .f32: scratch.copyMemory(from: tensor.pointer + i, byteCount: n * 4)
                        case .f16: convertFloatToHalf(tensor.pointer + i, scratch, count: n)
                        default: convertFloatToBFloat16(tensor.pointer + i, scratch, count: n)
                        }
                        try file.write(scratch, count: n * dtype.size)
                        i += n
                    }
                }
            }
        } catch let error as AtomicWriteError {
            throw SafeTensorsError.writeFailed(path: path, reason: error.reason)
        }
    }
}

/// `s` as a JSON string literal.
func jsonQuoted(_ s: String) -> String {
    var out: [UInt8] = []
    appendJSONString(s, to: &out)
    return String(decoding: out, as: UTF8.self)
}
