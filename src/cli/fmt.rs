//! `breakglass fmt`: rewrite policy files in the canonical style, keeping comments.

use super::output::{errln, out, outln};
use anyhow::Context;
use clap::Args;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::exit::ExitStatus;
use crate::diagnostics::SourceFile;
use crate::policy::format::format_source;

/// Arguments of `fmt`.
#[derive(Debug, Args)]
#[command(
    about = "Rewrite policy files in the canonical style (comments kept)",
    long_about = "Rewrites *.hcl files in the canonical style terraform fmt uses: two-space \
                  indentation, aligned `=` in runs of attributes, one blank line at most between \
                  items. Comments are kept. With --check nothing is written: unformatted files are \
                  listed and the exit code is 3. A PATH of `-` formats standard input to standard \
                  output.",
    after_help = "Examples:\n  breakglass fmt\n  breakglass fmt --check --diff\n  \
                  breakglass fmt examples/quickstart main.hcl\n  cat main.hcl | breakglass fmt -"
)]
pub struct FmtArgs {
    /// Write nothing; list files that are not formatted and exit 3 if there are any.
    #[arg(long)]
    pub check: bool,

    /// Show the changes as a unified diff.
    #[arg(long)]
    pub diff: bool,

    /// Also format *.hcl files in subdirectories.
    #[arg(long)]
    pub recursive: bool,

    /// Files or directories to format (default: the policy directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Runs `fmt`.
pub fn run(args: &FmtArgs) -> anyhow::Result<ExitStatus> {
    if args.paths.iter().any(|path| path == Path::new("-")) {
        return format_stdin();
    }
    let roots =
        if args.paths.is_empty() { vec![super::context::policy_dir()] } else { args.paths.clone() };
    let mut files = Vec::new();
    for root in &roots {
        collect_files(root, args.recursive, &mut files)?;
    }
    let mut unformatted = 0;
    let mut broken = 0;
    for file in &files {
        let (source, not_utf8) =
            SourceFile::from_bytes(file.display().to_string(), fs_err::read(file)?);
        if let Some(not_utf8) = not_utf8 {
            errln!("error: {not_utf8}; re-save it as UTF-8");
            broken += 1;
            continue;
        }
        let source = source.text().to_owned();
        let formatted = match format_source(&source) {
            Ok(formatted) => formatted,
            Err(error) => {
                errln!(
                    "error: {}:{}:{}: {}",
                    file.display(),
                    error.line,
                    error.column,
                    error.message
                );
                broken += 1;
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        unformatted += 1;
        outln!("{}", file.display())?;
        if args.diff {
            let name = file.display().to_string();
            let diff = similar::TextDiff::from_lines(&source, &formatted);
            out!("{}", diff.unified_diff().header(&name, &name))?;
        }
        if !args.check {
            write_atomically(file, &formatted)?;
        }
    }
    Ok(if broken > 0 {
        ExitStatus::Failure
    } else if args.check && unformatted > 0 {
        ExitStatus::Unformatted
    } else {
        ExitStatus::Success
    })
}

fn format_stdin() -> anyhow::Result<ExitStatus> {
    let mut source = String::new();
    std::io::stdin().read_to_string(&mut source).context("cannot read standard input")?;
    match format_source(&source) {
        Ok(formatted) => {
            super::output::write_stdout(formatted.as_bytes())?;
            Ok(ExitStatus::Success)
        }
        Err(error) => {
            errln!("error: <stdin>:{}:{}: {}", error.line, error.column, error.message);
            Ok(ExitStatus::Failure)
        }
    }
}

fn collect_files(path: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs_err::read_dir(path)
        .with_context(|| format!("{} is neither a file nor a directory", path.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for entry in entries {
        let hidden = entry.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if entry.is_dir() {
            if recursive && !hidden {
                collect_files(&entry, recursive, files)?;
            }
        } else if entry.extension().is_some_and(|extension| extension == "hcl") {
            files.push(entry);
        }
    }
    Ok(())
}

/// Replaces `path` with `text` through a new file under a unique name in the same folder (never
/// a fixed name another user could plant a link at), keeping the file's permissions.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let permissions = fs_err::metadata(path)?.permissions();
    let mut temporary = tempfile::Builder::new()
        .prefix(".breakglass-fmt-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
    temporary.write_all(text.as_bytes())?;
    temporary.as_file().sync_all()?;
    temporary.as_file().set_permissions(permissions)?;
    temporary.persist(path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
