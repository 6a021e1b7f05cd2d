#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CVerbaSupport
import VerbaSupport

// A GGUF model file, memory-mapped read-only and validated as strictly as a safetensors file before any
// tensor is handed out: the container (VerbaSupport's `GGUFHeader`: lengths, counts, alignment), then
// every tensor's type (a ggml type Verba knows), row length (a whole number of blocks), byte size
// (type × shape, overflow-checked), range (inside the data section) and overlap with the others.

/// One tensor of a GGUF file: `shape` outermost first (PyTorch's order; GGUF stores it reversed), so a
/// matrix is (rows, cols) with rows of `cols` contiguous values, each row a whole number of blocks.
package struct GGUFTensorInfo: Sendable, Equatable {
    package let name: String
    package let type: GGMLType
    package let shape: [Int]
    /// Bytes of the tensor relative to the start of the file.
    package let byteRange: Range<Int>
    /// Values per row (the innermost dimension).
    package var cols: Int { shape.last ?? 1 }
    /// Rows: the product of the outer dimensions.
    package var rows: Int { shape.dropLast().reduce(1, *) }
    package var count: Int { shape.reduce(1, *) }
}

/// A memory-mapped, fully validated GGUF file.
/// Sendable: immutable after init; the mapping is `PROT_READ` and unmapped only in deinit.
package final class GGUFFile: @unchecked Sendable {
    package let path: String
    package let header: GGUFHeader
    /// Every tensor by name.
    package let tensors: [String: GGUFTensorInfo]
    /// Tensor names in file order.
    package let names: [String]
    private let base: UnsafeRawPointer
    private let mappedSize: Int

    /// Maps `path` read-only and validates the header and every tensor entry.
    package init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        if fd < 0 { throw GGUFError.malformed(path: path, reason: "cannot open: " + errnoText()) }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw GGUFError.malformed(path: path, reason: "cannot stat: " + errnoText()) }
        if (st.st_mode & S_IFMT) != S_IFREG { throw GGUFError.malformed(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        guard size >= 24 else { throw GGUFError.malformed(path: path, reason: "truncated: \(size) bytes, shorter than a GGUF header") }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw GGUFError.malformed(path: path, reason: "mmap: " + errnoText())
        }
        let raw = UnsafeRawPointer(map)
        do {
            header = try GGUFHeader(UnsafeRawBufferPointer(start: raw, count: size), path: path)
            (tensors, names) = try GGUFFile.validate(header, fileSize: size)
        } catch {
            munmap(map, size)
            throw error
        }
        base = raw
        mappedSize = size
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedSize) }

    private static func validate(_ header: GGUFHeader, fileSize: Int) throws -> ([String: GGUFTensorInfo], [String]) {
        let path = header.path
        let dataSize = fileSize - header.dataOffset
        var tensors: [String: GGUFTensorInfo] = [:]
        var ranges: [(name: String, begin: Int, end: Int)] = []
        for entry in header.tensors {
            let name = entry.name
            guard let type = GGMLType(rawValue: entry.type) else {
                throw GGUFError.unsupported(path: path, what: "tensor type \(entry.type) of tensor \(name)")
            }
            let rowLength = entry.dims[0]
            guard rowLength % type.blockSize == 0 else {
                throw GGUFError.malformed(path: path, reason: "tensor \(name): rows of \(rowLength) values are not a whole number of \(type.name) blocks of \(type.blockSize)")
            }
            var bytes = type.rowBytes(columns: rowLength)
            for d in entry.dims.dropFirst() {
                let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw GGUFError.malformed(path: path, reason: "tensor \(name): size overflows") }
                bytes = p
            }
            let begin = entry.offset
            guard begin <= dataSize, bytes <= dataSize - begin else {
                throw GGUFError.malformed(path: path, reason: "tensor \(name) is truncated: its \(bytes) bytes of \(type.name) at data offset \(begin) run past the end of the data section (\(dataSize) bytes)")
            }
            let start = header.dataOffset + begin
            tensors[name] = GGUFTensorInfo(name: name, type: type, shape: entry.dims.reversed(), byteRange: start..<(start + bytes))
            ranges.append((name, begin, begin + bytes))
        }
        ranges.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var previous: (name: String, end: Int)?
        for r in ranges where r.end > r.begin {
            if let p = previous, r.begin < p.end {
                throw GGUFError.malformed(path: path, reason: "tensors \(p.name) and \(r.name) have overlapping data")
            }
            previous = (r.name, r.end)
        }
        return (tensors, header.tensors.map(\.name))
    }

    /// The entry of tensor `name`, nil when absent.
    package func info(_ name: String) -> GGUFTensorInfo? { tensors[name] }

    /// The raw bytes of a tensor, valid while this object lives.
    package func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + info.byteRange.lowerBound, count: info.byteRange.count)
    }

    /// The tensor as float32 (shape as stored, outermost first): a view into the mapping for aligned
    /// F32, else an owned copy converted (F16, BF16) or dequantized (block types) row by row.
    package func floats(_ info: GGUFTensorInfo) throws -> FloatTensor {
        let source = base + info.byteRange.lowerBound
        if info.type == .f32, Int(bitPattern: source) % MemoryLayout<Float>.alignment == 0 {
            return FloatTensor(borrowing: UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Float.self)),
                               shape: info.shape, owner: self)
        }
        let t = FloatTensor(shape: info.shape)
        guard GGUFFile.canConvert(info.type) else {
            throw GGUFError.unsupported(path: path, what: "tensor type \(info.type.name) of tensor \(info.name) (Verba reads \(GGMLType.allCases.filter(\.isSupported).map(\.name).joined(separator: ", ")))")
        }
        GGUFFile.toFloats(source, type: info.type, t.pointer, rows: info.rows, cols: info.cols)
        return t
    }

    /// Converts `rows` rows of `cols` values of `type` at `source` to float32 (`dequantizeRow`).
    package static func toFloats(_ source: UnsafeRawPointer, type: GGMLType, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let rowBytes = type.rowBytes(columns: cols)
        for r in 0..<rows { dequantizeRow(type, source + r * rowBytes, out + r * cols, count: cols) }
    }

    /// Whether `toFloats` reads `type`.
    package static func canConvert(_ type: GGMLType) -> Bool { type.isSupported }
}
