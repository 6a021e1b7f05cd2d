import Foundation
import XCTest

/// The package root (the folder holding Package.swift), found from this file's path.
let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()

/// The absolute path of `relative` (a path from the package root). A file under `downloads/` is
/// fetched by scripts/setup.sh, so the test fails without it; the shared fixtures in `../shared/fixtures`
/// (beside the checkout, made by the fixture scripts) are not, so the test is skipped without them.
func requireAsset(_ relative: String, root: URL = packageRoot) throws -> String {
    let path = root.appendingPathComponent(relative).standardizedFileURL.path
    guard FileManager.default.fileExists(atPath: path) else {
        if relative.hasPrefix("../shared/") {
            throw XCTSkip("\(relative) is absent (the shared fixtures beside the checkout)")
        }
        throw AssetMissing(relative: relative)
    }
    return path
}

/// A file that scripts/setup.sh provides is missing.
struct AssetMissing: Error, CustomStringConvertible {
    let relative: String
    var description: String { "\(relative) is absent: run scripts/setup.sh" }
}
