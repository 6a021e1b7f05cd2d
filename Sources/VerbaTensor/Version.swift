/// The version of the Verba package (the tag a dependent package names), and what this process runs on.
///
/// ```swift
/// import VerbaTensor
/// print("Verba \(VerbaVersion.string), kernels: \(CPULevel.current)")
/// ```
public enum VerbaVersion {
    /// The package version, as in the git tag of the release.
    public static let string = "0.3.0"
}
