//! The `trader` binary: all of its work is in the library.

fn main() -> std::process::ExitCode {
    trader::cli::main()
}
