import Foundation
import XCTest

final class ErrorLineTests: XCTestCase {
    func testUnknownCommandIsAUsageError() throws {
        let r = try runVerba(["no-such-command"])
        XCTAssertEqual(r.status, 64)
    }

    func testHelpListsExamples() throws {
        let r = try runVerba(["--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(String(decoding: r.stdout, as: UTF8.self).contains("Examples"))
    }
}
