//! `trustprint completions`.

use crate::error::Error;
use clap::{Args, CommandFactory};

pub(super) const HELP: &str = "\
Examples:
  trustprint completions bash > ~/.local/share/bash-completion/completions/trustprint
  trustprint completions zsh > ~/.zfunc/_trustprint
  trustprint completions fish > ~/.config/fish/completions/trustprint.fish";

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub(super) fn run(args: &CompletionsArgs) -> Result<(), Error> {
    let mut cmd = super::Cli::command();
    let mut out = std::io::stdout();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "trustprint", &mut out);
    Ok(())
}
