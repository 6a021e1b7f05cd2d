// Tokenizer files are read and written with the package's one JSON reader and writer (VerbaSupport).
// `JSONValue` appears in this module's API (`tokenizerJSON()`, the processors' and decoders' `json`), so
// the module re-exports it; VerbaSupport's `package` helpers stay invisible outside the package.
@_exported import VerbaSupport
