// The text of a system error number, for the typed errors of every library.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system's text for the error number `code` (`strerror`), by default the current `errno`.
package func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
