//! Where output goes and whether it is coloured.

use std::io::IsTerminal;

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

/// Writes `bytes` to standard output. A reader that went away (`breakglass … | head`) is not
/// an error: there is nobody left to tell.
pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
