//! `breakglass completions`: shell completion scripts, generated from the command definitions
//! (clap_complete), so they never fall behind the commands.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use super::exit::ExitStatus;

/// Arguments of `completions`.
#[derive(Debug, Args)]
#[command(
    about = "Print a shell completion script",
    long_about = "Prints the completion script for SHELL on standard output: subcommands, \
                  flags and their values. Install it where your shell loads completions.",
    after_help = "Examples:\n  \
                  breakglass completions bash > ~/.local/share/bash-completion/completions/breakglass\n  \
                  breakglass completions zsh > \"${fpath[1]}/_breakglass\"\n  \
                  breakglass completions fish > ~/.config/fish/completions/breakglass.fish\n  \
                  breakglass completions powershell >> $PROFILE"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Runs `completions`.
pub fn run(args: &CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "breakglass", &mut script);
    super::output::write_stdout(&script)?;
    Ok(ExitStatus::Success)
}
