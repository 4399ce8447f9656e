//! Where output goes and whether it is coloured.
//!
//! Every command prints through [`out!`], [`outln!`] and [`errln!`] rather than `print!` and
//! `eprint!`: those panic when the reader has gone away (`breakglass plan --json | head`), and
//! a reader that went away is not an error — there is nobody left to tell, so the command
//! finishes its work quietly and exits as it would have. A long-running command (`watch`) calls
//! [`stamp_lines`] once, and every line it prints then starts with the time.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Options every command shares.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Colour stdout.
    pub color: bool,
    /// stderr is a terminal: progress bars rather than plain lines.
    pub interactive: bool,
}

impl Output {
    /// Decides from `--no-color`, `NO_COLOR` and whether stdout and stderr are terminals.
    pub fn detect(no_color: bool) -> Self {
        let env_says_no = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self {
            color: !no_color && !env_says_no && std::io::stdout().is_terminal(),
            interactive: std::io::stderr().is_terminal(),
        }
    }
}

/// `print!` for commands: to standard output; a closed pipe is not an error. Evaluates to
/// `std::io::Result<()>` (a full disk is an error).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::print_stdout(format_args!($($arg)*))
    };
}

/// `println!` for commands: see [`out!`].
macro_rules! outln {
    () => {
        $crate::cli::output::print_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::print_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` for commands: to standard error; nothing can be done if that fails, so nothing
/// is.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::print_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` for commands: see [`errln!`].
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::output::print_stderr(format_args!($($arg)*))
    };
}

pub(crate) use {err, errln, out, outln};

/// Set once standard output's reader has gone away: later writes are skipped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether lines start with the time (`watch`), and whether the next byte on each stream
/// starts a line.
static STAMP: AtomicBool = AtomicBool::new(false);
static AT_LINE_START: Mutex<[bool; 2]> = Mutex::new([true, true]);

/// From now on, every line this process prints starts with the time (RFC 3339, UTC, to the
/// millisecond), as a long-running process's log should.
pub fn stamp_lines() {
    STAMP.store(true, Ordering::SeqCst);
}

/// `text` as it is to be printed on stream `which` (0 stdout, 1 stderr): with the time at the
/// start of each line when [`stamp_lines`] was called.
fn stamped(text: String, which: usize) -> String {
    if !STAMP.load(Ordering::SeqCst) || text.is_empty() {
        return text;
    }
    let now = crate::clock::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut at_start = AT_LINE_START.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = String::with_capacity(text.len() + 32);
    for piece in text.split_inclusive('\n') {
        if at_start[which] {
            out.push_str(&now);
            out.push(' ');
        }
        out.push_str(piece);
        at_start[which] = piece.ends_with('\n');
    }
    out
}

/// What [`out!`] and [`outln!`] call.
pub fn print_stdout(arguments: fmt::Arguments<'_>) -> std::io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let text = stamped(arguments.to_string(), 0);
    write_stdout(text.as_bytes())
}

/// What [`errln!`] calls.
pub fn print_stderr(arguments: fmt::Arguments<'_>) {
    let text = stamped(arguments.to_string(), 1);
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush());
}

/// Writes `bytes` to standard output. A reader that went away (`breakglass … | head`) is not
/// an error: there is nobody left to tell.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    Stdout.write_all(bytes).and_then(|()| Stdout.flush())
}

/// Standard output as a writer, for output written in pieces (`audit export`): a reader that
/// went away swallows the rest.
#[derive(Debug, Clone, Copy)]
pub struct Stdout;

impl Stdout {
    fn closed<T>(result: std::io::Result<T>, instead: T) -> std::io::Result<T> {
        match result {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                STDOUT_CLOSED.store(true, Ordering::SeqCst);
                Ok(instead)
            }
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if STDOUT_CLOSED.load(Ordering::SeqCst) {
            return Ok(bytes.len());
        }
        Self::closed(std::io::stdout().lock().write(bytes), bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if STDOUT_CLOSED.load(Ordering::SeqCst) {
            return Ok(());
        }
        Self::closed(std::io::stdout().lock().flush(), ())
    }
}

#[cfg(test)]
mod tests {
    /// Every command prints through this module's macros: `print!` and friends panic on a
    /// closed pipe. (A text search, as just's `bin/forbid` does: clippy's `disallowed-macros`
    /// would also forbid them in build scripts, benchmarks and tests, where they are right.)
    #[test]
    fn no_command_prints_with_the_standard_macros() {
        let mut offenders = Vec::new();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut pending = vec![root];
        while let Some(dir) = pending.pop() {
            for entry in fs_err::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("cli/output.rs") {
                    continue;
                }
                let text = fs_err::read_to_string(&path).expect("a source file");
                for (number, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    if ["print!(", "println!(", "eprint!(", "eprintln!("].iter().any(|m| {
                        code.match_indices(m).any(|(at, _)| {
                            !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                        })
                    }) {
                        offenders.push(format!(
                            "{}:{}: {}",
                            path.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "use out!/outln!/errln! from cli::output instead:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn stamped_lines_start_with_the_time_even_when_printed_in_pieces() {
        super::stamp_lines();
        let text =
            super::stamped("one\ntwo ".to_owned(), 0) + &super::stamped("half\n".to_owned(), 0);
        super::STAMP.store(false, std::sync::atomic::Ordering::SeqCst);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for (line, rest) in lines.iter().zip(["one", "two half"]) {
            let (time, printed) = line.split_once(' ').expect("a time, then the line");
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{line}");
            assert_eq!(printed, rest);
        }
    }
}
