//! `breakglass man`: manual pages, generated from the command definitions (clap_mangen), one
//! for the tool and one for each subcommand, so they say what `--help` says.

use super::output::errln;
use anyhow::Context as _;
use clap::{Args, CommandFactory};
use std::path::{Path, PathBuf};

use super::Cli;
use super::exit::ExitStatus;

/// Arguments of `man`.
#[derive(Debug, Args)]
#[command(
    about = "Write manual pages",
    long_about = "Without --out, prints the manual page of breakglass (roff) on standard output. \
                  With --out DIR, writes breakglass.1 and one page per subcommand \
                  (breakglass-plan.1, breakglass-state-list.1, …) into DIR.",
    after_help = "Examples:\n  breakglass man | man -l -\n  \
                  sudo breakglass man --out /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// Write every page into DIR instead of printing the top-level one.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `man`.
pub fn run(args: &ManArgs) -> anyhow::Result<ExitStatus> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    match &args.out {
        None => super::output::write_stdout(&render(command)?)?,
        Some(dir) => {
            fs_err::create_dir_all(dir)?;
            let mut count = 0;
            write_pages(command, dir, &mut count)
                .with_context(|| format!("cannot write manual pages to {}", dir.display()))?;
            errln!("Wrote {count} manual pages to {}.", dir.display());
        }
    }
    Ok(ExitStatus::Success)
}

/// One page, its footer naming the tool and version (for a subcommand too, where clap_mangen
/// would name the subcommand alone).
fn render(command: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .source(format!("breakglass {}", env!("BREAKGLASS_VERSION")))
        .render(&mut page)?;
    Ok(page)
}

/// Writes the page of `command` (named by its path: `breakglass-state-list.1`) and of each of
/// its subcommands.
fn write_pages(command: clap::Command, dir: &Path, count: &mut usize) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub.clone(), dir, count)?;
    }
    let name = command.get_display_name().unwrap_or(command.get_name()).to_owned();
    fs_err::write(dir.join(format!("{name}.1")), render(command)?)?;
    *count += 1;
    Ok(())
}
