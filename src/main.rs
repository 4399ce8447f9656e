//! The `breakglass` binary: everything happens in `breakglass::cli`.

/// mimalloc rather than the system allocator: planning at scale allocates and frees hundreds of
/// thousands of small strings and maps, where glibc's malloc spent a quarter of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    breakglass::cli::main().into()
}
