import VerbaSupport

// Writing GGUF files (version 3): the header (VerbaSupport's `GGUFEncoding`), padding to the alignment,
// then each tensor's bytes, each padded to the alignment. Tensors are produced one at a time by a closure,
// so a file larger than memory streams to disk; the file appears atomically (temporary file + rename).

/// One tensor to write: its name, type, shape (outermost first, as `GGUFTensorInfo`) and a closure that
/// writes exactly its `byteCount` bytes.
package struct GGUFOutputTensor {
    package let name: String
    package let type: GGMLType
    package let shape: [Int]
    package let produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    package init(name: String, type: GGMLType, shape: [Int],
                 produce: @escaping (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        precondition(!shape.isEmpty && shape.last! % type.blockSize == 0, "GGUFOutputTensor \(name): rows are not whole \(type.name) blocks")
        self.name = name
        self.type = type
        self.shape = shape
        self.produce = produce
    }

    /// Bytes of the tensor's data.
    package var byteCount: Int { type.rowBytes(columns: shape.last!) * shape.dropLast().reduce(1, *) }
}

/// An error writing a GGUF file, naming the file.
package struct GGUFWriteError: Error, CustomStringConvertible {
    package let path: String
    package let reason: String
    package var description: String { "\(path): cannot write GGUF file: \(reason)" }
}

package enum GGUFWriter {
    /// Writes `metadata` (which should hold `general.architecture` first, as llama.cpp writes it) and
    /// `tensors` to `path` atomically; `progress(index, name)` is called before each tensor.
    package static func write(to path: String, metadata: [(key: String, value: GGUFValue)], tensors: [GGUFOutputTensor],
                              alignment: Int = 32, progress: ((Int, GGUFOutputTensor) -> Void)? = nil) throws {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUFWriter: alignment must be a power of two")
        var meta = metadata.filter { $0.key != "general.alignment" }
        if alignment != 32 { meta.append(("general.alignment", .int(Int64(alignment), .uint32))) }
        var seen = Set<String>()
        for (key, _) in meta where !seen.insert(key).inserted {
            throw GGUFWriteError(path: path, reason: "metadata key \(key) appears twice")
        }
        seen = []
        var entries: [GGUFTensorEntry] = []
        var offset = 0
        for t in tensors {
            guard seen.insert(t.name).inserted else { throw GGUFWriteError(path: path, reason: "tensor \(t.name) appears twice") }
            entries.append(GGUFTensorEntry(name: t.name, dims: t.shape.reversed(), type: t.type.rawValue, offset: offset))
            offset += (t.byteCount + alignment - 1) / alignment * alignment
        }
        var header = GGUFEncoding.header(metadata: meta, tensors: entries)
        while header.count % alignment != 0 { header.append(0) }
        let zeros = [UInt8](repeating: 0, count: alignment)
        do {
            try writeFileAtomically(to: path) { file in
                try header.withUnsafeBytes { try file.write($0) }
                for (i, t) in tensors.enumerated() {
                    progress?(i, t)
                    var written = 0
                    try t.produce { bytes in
                        try file.write(bytes)
                        written += bytes.count
                    }
                    guard written == t.byteCount else {
                        throw GGUFWriteError(path: path, reason: "tensor \(t.name): \(written) bytes produced, \(t.byteCount) expected")
                    }
                    let pad = (alignment - written % alignment) % alignment
                    try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[0..<pad])) }
                }
            }
        } catch let e as AtomicWriteError {
            throw GGUFWriteError(path: path, reason: e.reason)
        }
    }
}
