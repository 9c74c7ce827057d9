//! The `ferrolb` binary: everything is in the library's [`ferrolb::cli`].

fn main() -> std::process::ExitCode {
    ferrolb::cli::main()
}
