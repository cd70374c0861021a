//! `lifeboat completions SHELL` and `lifeboat man`: shell completion scripts and the manual
//! page, both generated from the clap definition in `args` so they never drift from the parser.

use super::args::Cli;
use crate::app::exit;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut dyn Write) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "lifeboat", out);
}

/// Writes the manual page (roff): one page holding every subcommand as its own section, so
/// `man lifeboat` is complete on its own (clap_mangen's subcommand list would point at
/// `lifeboat-backup(1)` pages nobody installs).
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::command();
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;
    for sub in visible_subcommands(&command) {
        write_subcommand("lifeboat", sub, out)?;
    }
    page.render_version_section(out)
}

/// Subcommands an operator types; clap's own `help` is left out.
fn visible_subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// One subcommand as a `.SH` section of the page: its synopsis, description and options, then
/// its own subcommands, recursively. `parent` is the command line that leads to it.
fn write_subcommand(parent: &str, sub: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let name = format!("{parent} {}", sub.get_name());
    let sub = sub
        .clone()
        .display_name(name.clone())
        .bin_name(name.clone());
    let man = clap_mangen::Man::new(sub.clone());
    writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    for child in visible_subcommands(&sub) {
        write_subcommand(&name, child, out)?;
    }
    Ok(())
}

/// Runs `lifeboat completions SHELL`.
pub fn run_completions(shell: Shell) -> i32 {
    completions(shell, &mut std::io::stdout().lock());
    exit::OK
}

/// Runs `lifeboat man`.
pub fn run_man() -> i32 {
    match man(&mut std::io::stdout().lock()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("lifeboat: cannot write the manual page: {e}");
            exit::FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument (flag, option, positional) of every command, with its command path.
    fn arguments(command: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in command.get_arguments() {
            out.push((path.to_string(), arg.clone()));
        }
        for sub in command.get_subcommands() {
            arguments(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    fn subcommands(command: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            out.push((path.to_string(), sub.get_name().to_string()));
            subcommands(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_and_command_has_help_text() {
        let mut command = Cli::command();
        command.build();
        let mut args = Vec::new();
        arguments(&command, "lifeboat", &mut args);
        assert!(
            args.len() > 40,
            "the walk found only {} arguments",
            args.len()
        );
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, a)| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
            .map(|(path, a)| format!("{path} --{}", a.get_id()))
            .collect();
        assert!(
            missing.is_empty(),
            "arguments without help text: {missing:?}"
        );
        let mut subs = Vec::new();
        subcommands(&command, "lifeboat", &mut subs);
        let bare: Vec<String> = subs
            .iter()
            .filter(|(path, name)| {
                let mut c = &command;
                for part in path.split(' ').skip(1).chain([name.as_str()]) {
                    c = c.find_subcommand(part).expect("walked from the tree");
                }
                c.get_about().is_none()
            })
            .map(|(path, name)| format!("{path} {name}"))
            .collect();
        assert!(bare.is_empty(), "commands without help text: {bare:?}");
    }

    #[test]
    fn bash_completions_offer_every_subcommand() {
        let mut script = Vec::new();
        completions(Shell::Bash, &mut script);
        let script = String::from_utf8(script).expect("utf-8");
        let mut subs = Vec::new();
        subcommands(&Cli::command(), "lifeboat", &mut subs);
        assert!(subs.len() > 20, "only {} subcommands found", subs.len());
        for (path, name) in &subs {
            // clap_complete names each command's state `lifeboat__subcmd__sub__subcmd__subsub`.
            let arm = format!(
                "cmd=\"{}__subcmd__{name}\"",
                path.replace(' ', "__subcmd__")
            );
            assert!(
                script.contains(&arm),
                "bash completion lacks `{path} {name}`"
            );
            let offered = script
                .lines()
                .any(|l| l.contains("opts=") && l.split_whitespace().any(|w| w == name));
            assert!(offered, "bash completion never offers `{name}`");
        }
    }

    #[test]
    fn every_shell_gets_a_script() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut script = Vec::new();
            completions(shell, &mut script);
            let script = String::from_utf8(script).expect("utf-8");
            assert!(script.contains("restore"), "{shell} script lacks `restore`");
            assert!(
                script.contains("target-url"),
                "{shell} script lacks `--target-url`"
            );
        }
    }

    #[test]
    fn man_page_is_roff_naming_every_command() {
        let mut page = Vec::new();
        man(&mut page).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        assert!(
            page.starts_with(".ie") || page.contains("\n.TH lifeboat"),
            "no .TH: {page:.200}"
        );
        let mut subs = Vec::new();
        subcommands(&Cli::command(), "lifeboat", &mut subs);
        for (path, name) in &subs {
            let heading = format!(".SH \"{} {}\"", path, name).to_uppercase();
            assert!(
                page.contains(&heading),
                "man page lacks a section `{heading}`"
            );
        }
        assert!(
            page.contains("target\\-url"),
            "man page lacks restore's --target-url"
        );
    }

    /// `man -l -` formats the page the way an operator reads it: every command heading and an
    /// option's help must come out as text, with no roff warnings on stderr.
    #[test]
    fn man_renders_the_page() {
        use std::process::{Command, Stdio};
        if Command::new("man").arg("--version").output().is_err() {
            eprintln!("man is not installed; the roff checks above still ran");
            return;
        }
        let mut page = Vec::new();
        man(&mut page).expect("render");
        let mut child = Command::new("man")
            .args(["--warnings", "-l", "-"])
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn man");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&page)
            .expect("write the page");
        let done = child.wait_with_output().expect("man ran");
        let text = String::from_utf8_lossy(&done.stdout);
        let warnings = String::from_utf8_lossy(&done.stderr);
        assert!(done.status.success(), "man failed: {warnings}");
        assert!(warnings.trim().is_empty(), "man warned: {warnings}");
        assert!(
            text.contains("LIFEBOAT RESTORE"),
            "rendered page: {text:.2000}"
        );
        assert!(
            text.contains("LIFEBOAT DRILL REPORT"),
            "rendered page: {text:.2000}"
        );
        assert!(
            text.contains("The database to restore into"),
            "{text:.2000}"
        );
    }
}
