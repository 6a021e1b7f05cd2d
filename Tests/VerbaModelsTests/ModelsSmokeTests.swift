import XCTest
@testable import VerbaModels
