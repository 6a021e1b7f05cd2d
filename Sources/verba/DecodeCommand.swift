import ArgumentParser
import Foundation
import VerbaTokenizers

/// `verba decode`: ids back to text, one output line per input line.
struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode lines of token ids back to text.",
        discussion: """
        Each input line holds ids separated by spaces (or tabs); the decoded text is printed on one line \
        (an empty line for an empty line). Bytes that do not form valid UTF-8 (a character cut between \
        tokens) are printed as U+FFFD. A word that is not an integer, or an id outside the vocabulary, \
        stops with `verba: error: line N: ...` and a non-zero exit; the lines before it are printed.

        Examples:
          echo "15496 995" | verba decode --tokenizer ../shared/fixtures/gpt2
          verba tokenize --tokenizer tok.json < in.txt | verba decode --tokenizer tok.json --skip-special-tokens
        """)

    @Option(name: .long, help: "Tokenizer file or folder (tokenizer.json, folder, sentencepiece .model, .tiktoken, GGUF).")
    var tokenizer: String

    @Flag(name: .long, help: "Leave out special tokens ([CLS], <|endoftext|>...).")
    var skipSpecialTokens = false

    func run() throws {
        let tok = try Tokenizer.load(path: tokenizer)
        var lineNumber = 0
        var ids: [Int] = []
        var failure: Error?
        try LineInput(fileDescriptor: 0).forEachLine { line in
            lineNumber += 1
            ids.removeAll(keepingCapacity: true)
            var i = 0
            let n = line.count
            while i < n {
                let b = line[i]
                if b == 32 || b == 9 || b == 13 { i += 1; continue }
                let start = i
                var value = 0
                var valid = true
                var negative = false
                if b == UInt8(ascii: "-") { negative = true; i += 1 }
                let digitsStart = i
                while i < n && line[i] != 32 && line[i] != 9 && line[i] != 13 {
                    let d = line[i]
                    if d < 48 || d > 57 || value > (Int.max - 9) / 10 { valid = false } else { value = value * 10 + Int(d - 48) }
                    i += 1
                }
                let word = String(decoding: UnsafeBufferPointer(rebasing: line[start..<i]), as: UTF8.self)
                if !valid || i == digitsStart {
                    failure = TokenizerError.invalidInput("line \(lineNumber): \"\(word)\" is not an integer id")
                    return false
                }
                if negative {
                    failure = TokenizerError.invalidInput("line \(lineNumber): id \(word) is out of range (vocabulary size \(tok.vocabSize))")
                    return false
                }
                ids.append(value)
            }
            let text: String
            do {
                text = try tok.decodeChecked(ids, skipSpecialTokens: skipSpecialTokens)
            } catch {
                failure = TokenizerError.invalidInput("line \(lineNumber): \(error)")
                return false
            }
            StandardOutput.shared.write(text)
            StandardOutput.shared.write(byte: 10)
            return true
        }
        if let failure { throw failure }
    }
}
