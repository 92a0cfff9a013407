import ArgumentParser

/// Flags every command takes.
struct GlobalOptions: ParsableArguments {
    @Flag(help: "Print one JSON document on stdout instead of text.")
    var json = false

    @Flag(name: .shortAndLong, help: "Print nothing but errors; no progress bar.")
    var quiet = false

    @Flag(name: .shortAndLong, help: "More detail on stderr (-v info, -vv debug).")
    var verbose: Int

    func validate() throws {
        if quiet && verbose > 0 { throw ValidationError("--quiet and --verbose cannot be used together") }
    }
}
