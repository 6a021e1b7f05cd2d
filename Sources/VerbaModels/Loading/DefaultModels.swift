// Finding the models a checkout ships in models/, for programs run without an explicit model folder.

import Foundation

/// The models found in `models/` folders: the current folder's, then that of the package the running
/// program was built in (a SwiftPM binary lives in `<package>/.build*/<config>/<name>`).
///
/// ```swift
/// print(DefaultModels.searchFolders())   // e.g. ["/home/me/work/models", "/home/me/verba/models"]
/// let folder = try DefaultModels.find(.bertClassifier)
/// let classifier = try SequenceClassifier(folder: folder)
/// ```
public enum DefaultModels {
    /// What a default model must be.
    ///
    /// ```swift
    /// let generatorFolder = try DefaultModels.find(.modelType("gpt2"))
    /// let classifierFolder = try DefaultModels.find(.bertClassifier)
    /// print(DefaultModels.Kind.bertClassifier)   // "a BERT classifier"
    /// ```
    public enum Kind: Sendable, CustomStringConvertible {
        /// A folder whose config.json has this `model_type` ("gpt2", "bert", ...).
        case modelType(String)
        /// A BERT sequence classifier: `model_type` "bert" and an `architectures` entry ending in
        /// "ForSequenceClassification".
        case bertClassifier

        public var description: String {
            switch self {
            case let .modelType(type): return "model_type \"\(type)\""
            case .bertClassifier: return "a BERT classifier"
            }
        }

        func matches(_ config: ConfigJSON) -> Bool {
            switch self {
            case let .modelType(type):
                return (try? config.optionalString("model_type")) == type
            case .bertClassifier:
                guard (try? config.optionalString("model_type")) == "bert",
                      let architectures = try? config.optionalStringArray("architectures") else { return false }
                return architectures.contains { $0.hasSuffix("ForSequenceClassification") }
            }
        }
    }

    /// The `models/` folders searched, in order: the current folder's, then the one beside the
    /// Package.swift found up to five folders above `executable` (symbolic links resolved).
    public static func searchFolders(executable: String = CommandLine.arguments.first ?? "") -> [String] {
        var roots = [FileManager.default.currentDirectoryPath]
        if !executable.isEmpty {
            var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<5 {
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                    roots.append(dir.path)
                    break
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        var seen = Set<String>()
        return roots.map { ($0 as NSString).appendingPathComponent("models") }.filter { seen.insert($0).inserted }
    }

    /// The first folder (by name) under the first of `folders` that has one whose config.json is `kind`.
    ///
    /// ```swift
    /// let folder = try DefaultModels.find(.modelType("gpt2"))
    /// let generator = try TextGenerator(folder: folder)
    /// ```
    /// - Throws: `ModelError.noDefaultModel` (its message names the folders searched) when none is.
    public static func find(_ kind: Kind, in folders: [String] = searchFolders()) throws -> String {
        for root in folders {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
            for name in names {
                let folder = (root as NSString).appendingPathComponent(name)
                guard let config = try? ConfigJSON(path: (folder as NSString).appendingPathComponent("config.json")),
                      kind.matches(config) else { continue }
                return folder
            }
        }
        throw ModelError.noDefaultModel("no default model in models/ (looked in \(folders.joined(separator: ", ")) for \(kind)); pass --model DIR")
    }
}
