//! The files under `man/` that are generated from the command lines' clap
//! definitions, so that they never drift from the flags: a roff man page
//! per binary and per cairnctl and cairnutl subcommand (clap_mangen), and bash, zsh and
//! fish completions (clap_complete, the same scripts `cairnctl completion`
//! prints).
//!
//! [`generate`] renders everything in memory; [`write`] puts it in place
//! and removes pages of commands that no longer exist; [`differences`]
//! is what the test (`tests/man_pages.rs`) fails on.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Where the generated files live, relative to the repository root.
pub const MAN_DIR: &str = "man";
/// Completions, relative to the repository root.
pub const COMPLETIONS_DIR: &str = "man/completions";

/// The repository root (this crate sits one level below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

/// Every generated file: its path relative to the repository root, and its
/// contents.
pub fn generate() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let tools = [
        (
            cairn::config::command(),
            &["cairnctl", "cairnutl", "cairntop"][..],
        ),
        (
            cairnctl::cli::command(),
            &["cairn", "cairnutl", "cairntop"][..],
        ),
        (cairnutl::command(), &["cairn", "cairnctl"][..]),
        (cairntop::cli::command(), &["cairn", "cairnctl"][..]),
    ];
    for (command, others) in tools {
        man_pages(command.clone(), others, &mut files);
        completions(command, &mut files);
    }
    files
}

/// The page of `command` and, recursively, of each of its subcommands
/// (`cairnctl-member-add.1`), as clap_mangen's `generate_to` names them.
fn man_pages(command: clap::Command, others: &[&str], files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let version = command
        .get_version()
        .unwrap_or(env!("CARGO_PKG_VERSION"))
        .to_owned();
    let see_also: Vec<String> = others.iter().map(|o| o.to_string()).collect();
    add_pages(&command, &version, &see_also, files);
}

fn add_pages(
    command: &clap::Command,
    version: &str,
    see_also: &[String],
    files: &mut BTreeMap<PathBuf, Vec<u8>>,
) {
    let name = command
        .get_display_name()
        .unwrap_or_else(|| command.get_name())
        .to_owned();
    let man = clap_mangen::Man::new(command.clone())
        .source(format!("cairn {version}"))
        .manual("cairn manual");
    let mut page = Vec::new();
    man.render(&mut page)
        .expect("rendering into memory cannot fail");
    page.extend_from_slice(see_also_section(see_also).as_bytes());
    files.insert(Path::new(MAN_DIR).join(man.get_filename()), page);

    // A subcommand's page points back to its parent only.
    let parent = [name];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        add_pages(sub, version, &parent, files);
    }
}

/// A SEE ALSO section naming other pages, in man's `name(1)` form.
fn see_also_section(pages: &[String]) -> String {
    let refs: Vec<String> = pages.iter().map(|p| format!("\\fB{p}\\fR(1)")).collect();
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
}

/// bash, zsh and fish completion scripts, in the file names each shell
/// looks for.
fn completions(mut command: clap::Command, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let bin = command.get_name().to_owned();
    for (shell, file) in [
        (Shell::Bash, format!("{bin}.bash")),
        (Shell::Zsh, format!("_{bin}")),
        (Shell::Fish, format!("{bin}.fish")),
    ] {
        let script = if bin == "cairnctl" {
            // Exactly what `cairnctl completion <shell>` prints.
            cairnctl::cli::commands::completion::script(shell)
        } else {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, &bin, &mut script);
            script
        };
        files.insert(Path::new(COMPLETIONS_DIR).join(file), script);
    }
}

/// The generated files already in `root`: every `*.1` page in `man/` and
/// every file in `man/completions/`.
fn existing(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for dir in [MAN_DIR, COMPLETIONS_DIR] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let generated = if dir == MAN_DIR {
                path.extension().is_some_and(|e| e == "1")
            } else {
                path.is_file()
            };
            if generated {
                found.push(Path::new(dir).join(entry.file_name()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes every generated file under `root` and deletes generated files of
/// commands that no longer exist. Returns what changed.
pub fn write(root: &Path) -> io::Result<Vec<String>> {
    let generated = generate();
    let changes = differences(root, &generated)?;
    fs::create_dir_all(root.join(COMPLETIONS_DIR))?;
    for (path, contents) in &generated {
        let target = root.join(path);
        if fs::read(&target).ok().as_deref() != Some(contents.as_slice()) {
            fs::write(&target, contents)?;
        }
    }
    for path in existing(root)? {
        if !generated.contains_key(&path) {
            fs::remove_file(root.join(path))?;
        }
    }
    Ok(changes)
}

/// How the files under `root` differ from `generated`, one line each
/// (empty when they match).
pub fn differences(root: &Path, generated: &BTreeMap<PathBuf, Vec<u8>>) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for (path, contents) in generated {
        match fs::read(root.join(path)) {
            Ok(on_disk) if on_disk == *contents => {}
            Ok(_) => out.push(format!("{} differs", path.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                out.push(format!("{} is missing", path.display()));
            }
            Err(e) => return Err(e),
        }
    }
    for path in existing(root)? {
        if !generated.contains_key(&path) {
            out.push(format!("{} belongs to no command", path.display()));
        }
    }
    Ok(out)
}
