import XCTest
@testable import VerbaTokenizers

/// `writeDecimal` / `appendDecimal`, which `verba tokenize` and the JSON writer print numbers with.
final class DecimalTests: XCTestCase {
    func testMatchesStringDescription() {
        var values = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 99999, 100000, 100257, 999_999,
                      1_000_000, 12_345_678, 99_999_999, 100_000_000, Int.max, -1, -10, -100_000, Int.min]
        var seed: UInt64 = 42
        for _ in 0..<1000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            values.append(Int(truncatingIfNeeded: seed) >> Int(seed % 60))
        }
        for v in values {
            var out: [UInt8] = [0x5B]
            appendDecimal(v, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "[" + String(v))
        }
    }
}
