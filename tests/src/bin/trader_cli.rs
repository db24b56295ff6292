//! The `trader` command line built inside this package, so that cargo rebuilds it with the system tests
//! (`CARGO_BIN_EXE_trader_cli`). It is the daemon's binary to the letter: `main` is the library's.

fn main() -> std::process::ExitCode {
    trader::cli::main()
}
