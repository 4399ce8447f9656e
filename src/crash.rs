//! Named points where the crash-safety tests kill the process (SIGKILL), to show that a crash
//! there leaves nothing granted that the state does not know about.
//!
//! Released binaries ignore them: only test builds (the `test-clock` feature, which only the
//! test suite enables) honour `BREAKGLASS_TEST_CRASH_AT=NAME`, and then, on reaching point
//! NAME, say so on stderr and wait to be killed.

/// After the write-ahead record (activation `applying`, nonces used) is committed, before any
/// provider call.
pub const AFTER_WRITE_AHEAD: &str = "after-write-ahead";
/// After a provider call granted, before the state records it.
pub const AFTER_GRANT: &str = "after-grant";
/// After the state recorded the grant, before the activation is marked active.
pub const AFTER_RECORD: &str = "after-record";

/// Marks point `name`.
pub fn point(name: &str) {
    #[cfg(feature = "test-clock")]
    if std::env::var("BREAKGLASS_TEST_CRASH_AT").is_ok_and(|at| at == name) {
        // Not eprintln!: it panics when stderr is gone, and this point must be reached.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("crash point {name} reached\n").as_bytes(),
        );
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
    let _ = name;
}
