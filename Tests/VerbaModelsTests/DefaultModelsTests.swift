import Foundation
import XCTest
@testable import VerbaModels

/// `DefaultModels.find`: the first folder by name whose config.json is of the kind asked for.
final class DefaultModelsTests: XCTestCase {
    func testFindsTheFirstMatchingFolderByName() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("verba-models-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func model(_ name: String, _ config: String) throws {
            let folder = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(config.utf8).write(to: folder.appendingPathComponent("config.json"))
        }
        try model("c-gpt", #"{"model_type": "gpt2"}"#)
        try model("b-gpt", #"{"model_type": "gpt2"}"#)
        try model("a-bert", #"{"model_type": "bert", "architectures": ["BertModel"]}"#)
        try model("d-classifier", #"{"model_type": "bert", "architectures": ["BertForSequenceClassification"]}"#)
        try model("0-broken", "{")
        let roots = ["/nonexistent-\(UUID().uuidString)", root.path]
        XCTAssertEqual(try DefaultModels.find(.modelType("gpt2"), in: roots), root.appendingPathComponent("b-gpt").path)
        XCTAssertEqual(try DefaultModels.find(.modelType("bert"), in: roots), root.appendingPathComponent("a-bert").path)
        XCTAssertEqual(try DefaultModels.find(.bertClassifier, in: roots), root.appendingPathComponent("d-classifier").path)
        XCTAssertThrowsError(try DefaultModels.find(.modelType("llama"), in: roots)) { error in
            XCTAssertTrue("\(error)".contains("default model"), "\(error)")
            XCTAssertTrue("\(error)".contains(root.path), "\(error)")
        }
    }

    func testSearchFoldersStartWithTheCurrentFolders() {
        let folders = DefaultModels.searchFolders(executable: "")
        XCTAssertEqual(folders, [(FileManager.default.currentDirectoryPath as NSString).appendingPathComponent("models")])
    }
}
