import XCTest
@testable import VerbaTokenizers

final class CoreTests: XCTestCase {
    func testIdentityNormalizedTextMapsRangesToThemselves() {
        let t = NormalizedText(bytes: Array("abc".utf8))
        XCTAssertEqual(t.originalRange(of: 1..<3), 1..<3)
    }

    func testNormalizedTextMapsBackThroughOrigins() {
        // "É" (2 bytes) normalized to "e" (1 byte), then "x".
        let t = NormalizedText(bytes: Array("ex".utf8), origins: [0..<2, 2..<3])
        XCTAssertEqual(t.originalRange(of: 0..<2), 0..<3)
        XCTAssertEqual(t.originalRange(of: 1..<2), 2..<3)
    }
}
