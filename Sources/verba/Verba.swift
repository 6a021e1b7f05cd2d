import ArgumentParser
import VerbaTensor
#if canImport(Glibc)
import Glibc
#endif

/// The `verba` command: tokenizers and a transformer engine for the command line.
///
/// Errors thrown while a command runs are printed as one line, `verba: error: <what and where>`, and
/// the process exits with status 1. Usage errors keep swift-argument-parser's message and status 64.
@main
struct Verba: ParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(
        commandName: "verba",
        abstract: "Tokenize text, and embed, classify and generate it with transformer models, in native Swift.",
        discussion: """
        Every command reads text from standard input (one text per line), writes results to standard \
        output and progress or errors to standard error.

        Examples:
          echo "Hello world" | verba tokenize --tokenizer path/to/tokenizer.json
          echo "15496 995" | verba decode --tokenizer path/to/gpt2-folder
          verba --version          # the version and the CPU level the kernels run at
        """,
        version: "verba \(VerbaVersion.string) (kernels: \(CPULevel.current))",
        subcommands: [
            // Each subcommand lives in its own file; register it here.
            Generate.self,
            Chat.self,
            PerplexityCommand.self,
            QuantizeCommand.self,
            Tokenize.self,
            Decode.self,
            TokenizerCommand.self,
            TrainCommand.self,
            Embed.self,
            Classify.self,
        ]
    ) }

    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
            StandardOutput.shared.flush()
            exitIfOutputFailed()
        } catch {
            StandardOutput.shared.flush()
            if exitCode(for: error) == .success { exitIfOutputFailed() }  // CleanExit, ExitCode.success
            // Help requests, usage errors, ExitCode and CleanExit keep swift-argument-parser's handling;
            // every other error is a run-time failure and gets the one-line contract form.
            if error is ExitCode || error is CleanExit || exitCode(for: error) != .failure {
                exit(withError: error)
            }
            printError("\(error)")
            Glibc.exit(1)
        }
    }
}

/// Output that was not written is a failure, whatever the command returned: the error line and exit 1.
private func exitIfOutputFailed() {
    guard let failure = StandardOutput.shared.failure else { return }
    printError("cannot write standard output: \(String(cString: strerror(failure)))")
    Glibc.exit(1)
}

/// Prints `verba: error: <message>` on standard error.
func printError(_ message: String) {
    let line = "verba: error: \(message)\n"
    writeStandardError(line)
}

/// Prints a progress or statistics line on standard error.
func printNote(_ message: String) {
    writeStandardError(message + "\n")
}
