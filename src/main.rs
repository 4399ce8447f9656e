//! The `breakglass` binary: everything happens in `breakglass::cli`.

fn main() -> std::process::ExitCode {
    breakglass::cli::main().into()
}
