import XCTest
import VerbaTensor

final class KernelTests: XCTestCase {
    func testMatmulMatchesReference() {
        let m = 7, n = 5, k = 9
        var rng = SystemRandomNumberGenerator()
        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
        var c = [Float](repeating: 0, count: m * n), r = c
        matmul(a, b, &c, m: m, n: n, k: k)
        referenceMatmul(a, b, &r, m: m, n: n, k: k)
        for i in 0..<(m * n) { XCTAssertEqual(c[i], r[i], accuracy: 1e-5) }
    }
}
