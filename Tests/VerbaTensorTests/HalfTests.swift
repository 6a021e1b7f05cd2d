import Foundation
@testable import VerbaTensor
import XCTest

/// The package root, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

final class HalfTests: XCTestCase {
    func testEveryHalfWidensExactly() {
        forEachLevel { level in
            var source = (0...UInt16.max).map { $0 }
            var fast = [Float](repeating: 0, count: source.count)
            source.withUnsafeMutableBytes { s in fast.withUnsafeMutableBufferPointer { convertHalfToFloat(s.baseAddress!, $0.baseAddress!, count: 65536) } }
            for h in source {
                let expected = referenceHalfToFloat(h)
                XCTAssertEqual(halfToFloat(h).bitPattern, expected.bitPattern, "half \(h)")
                XCTAssertEqual(fast[Int(h)].bitPattern, expected.bitPattern, "bulk half \(h)")
                if !expected.isNaN {
                    XCTAssertEqual(floatToHalf(expected), h, "round trip of half \(h)")
                    XCTAssertEqual(referenceFloatToHalf(expected), h, "reference round trip of half \(h)")
                }
            }
            source.removeAll()
        }
    }

    func testNarrowingMatchesReferenceOnManyFloats() {
        forEachLevel { level in
            var rng = SystemRandomNumberGenerator()
            var inputs: [Float] = (0..<200_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            // Values near half-precision rounding boundaries and the subnormal range.
            inputs += (0..<100_000).map { i in Float(bitPattern: 0x3300_0000 &+ UInt32(i) &* 0x2a3) }
            inputs += (0..<65536).map { i in Float(bitPattern: UInt32(i) << 13 | 0x1000) }   // exact ties
            var halves = [UInt16](repeating: 0, count: inputs.count), brains = halves
            inputs.withUnsafeBufferPointer { p in
                halves.withUnsafeMutableBytes { convertFloatToHalf(p.baseAddress!, $0.baseAddress!, count: inputs.count) }
                brains.withUnsafeMutableBytes { convertFloatToBFloat16(p.baseAddress!, $0.baseAddress!, count: inputs.count) }
            }
            var widened = [Float](repeating: 0, count: inputs.count)
            brains.withUnsafeBytes { b in widened.withUnsafeMutableBufferPointer { convertBFloat16ToFloat(b.baseAddress!, $0.baseAddress!, count: inputs.count) } }
            for (i, x) in inputs.enumerated() {
                let ref = referenceFloatToHalf(x)
                if x.isNaN {
                    XCTAssertTrue(halfToFloat(halves[i]).isNaN)
                    XCTAssertTrue(bfloat16ToFloat(brains[i]).isNaN)
                    XCTAssertTrue(widened[i].isNaN)
                    continue
                }
                if halves[i] != ref { XCTFail("f16 of \(x) (\(x.bitPattern)): \(halves[i]) vs \(ref)"); break }
                // bfloat16 by double rounding check: the nearest bf16 is within half an ulp.
                let b = brains[i]
                XCTAssertEqual(b, floatToBFloat16(x))
                XCTAssertEqual(widened[i].bitPattern, UInt32(b) << 16)
            }
        }
    }

    func testNarrowingMatchesTorch() throws {
        try forEachLevel { level in
            let data = try Data(contentsOf: packageRoot.appendingPathComponent("Tests/Fixtures/tensor/expected.json"))
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let narrowing = try XCTUnwrap(json["narrowing"] as? [String: [Int]])
            let inputs = try XCTUnwrap(narrowing["input_bits"]).map { Float(bitPattern: UInt32($0)) }
            let f16 = try XCTUnwrap(narrowing["f16_bits"]), bf16 = try XCTUnwrap(narrowing["bf16_bits"])
            for (i, x) in inputs.enumerated() {
                XCTAssertEqual(Int(floatToHalf(x)), f16[i], "f16 of \(x)")
                XCTAssertEqual(Int(referenceFloatToHalf(x)), f16[i], "reference f16 of \(x)")
                XCTAssertEqual(Int(floatToBFloat16(x)), bf16[i], "bf16 of \(x)")
            }
        }
    }

    func testReadsTorchWrittenFile() throws {
        try forEachLevel { level in
            let folder = packageRoot.appendingPathComponent("Tests/Fixtures/tensor")
            let data = try Data(contentsOf: folder.appendingPathComponent("expected.json"))
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let file = try SafeTensorsFile(path: folder.appendingPathComponent("reference.safetensors").path)
            XCTAssertEqual(file.metadata["format"], "pt")
            XCTAssertEqual(try file.info("ids").dtype, .i64)
            var checked = 0
            for (name, value) in json where name != "narrowing" {
                let entry = try XCTUnwrap(value as? [String: Any])
                let shape = try XCTUnwrap(entry["shape"] as? [Int])
                let bits = try XCTUnwrap(entry["bits"] as? [Int])
                XCTAssertEqual(try file.info(name).dtype.rawValue, entry["dtype"] as? String)
                let t = try file.floats(name, shape: shape)
                XCTAssertEqual(t.count, bits.count)
                for i in 0..<t.count { XCTAssertEqual(t[i].bitPattern, UInt32(bits[i]), "\(name)[\(i)]") }
                checked += 1
            }
            XCTAssertEqual(checked, 6)
        }
    }
}
