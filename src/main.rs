//! The `breakglass` binary: everything happens in `breakglass::cli`.

/// mimalloc rather than the system allocator: planning at scale allocates and frees hundreds of
/// thousands of small strings and maps, where glibc's malloc spent a quarter of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    without_transparent_huge_pages();
    breakglass::cli::main().into()
}

/// mimalloc asks Linux for transparent huge pages, and a command lives too short for them to
/// pay: each first touch of a 2 MiB page has the kernel zero all of it. A whole `plan` at
/// 60,900 activations spent 0.6–1.0 s of its 2.3–2.7 s there (`clear_page_erms`, a third of
/// its samples in `perf`); without them, 0.3 s, and the same peak. Failing (an old kernel)
/// changes nothing but that time.
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
