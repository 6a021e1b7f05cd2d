import XCTest
import VerbaModels
