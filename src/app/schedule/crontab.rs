//! The crontab form of a schedule: one block between `# BEGIN lifeboat` and `# END lifeboat`
//! in a user crontab, replaced whole on every install (so installing twice changes nothing)
//! and removed whole on uninstall; lines outside the block are never touched. The crontab is
//! a file given with `--crontab FILE`, or the user's own through `crontab -l` / `crontab -`.
//! Each application of `apps/` has a block of its own (`# BEGIN lifeboat app=NAME`), replaced
//! and removed without touching the others'.

use super::{Plan, Scope, Target};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const BEGIN: &str = "# BEGIN lifeboat";
pub const END: &str = "# END lifeboat";
/// Before each job's line: the job and the expression as given.
pub const SCHEDULE_MARK: &str = "# lifeboat-schedule ";

/// A shell word in single quotes, with `%` escaped: cron turns a bare `%` into a newline.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@+,".contains(c));
    let quoted = if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    };
    quoted.replace('%', "\\%")
}

pub fn line(plan: &Plan, target: &Target) -> String {
    let mut words: Vec<String> = target
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", shell_word(v)))
        .collect();
    // The same manners as the systemd unit: the application comes first.
    words.extend(["nice".to_string(), "-n".into(), "10".into()]);
    if target.ionice {
        words.extend(["ionice".to_string(), "-c".into(), "3".into()]);
    }
    words.push(shell_word(&target.binary.to_string_lossy()));
    words.push("--config".into());
    words.push(shell_word(&target.config.to_string_lossy()));
    words.extend(plan.args.iter().map(|a| shell_word(a)));
    // Success is quiet; errors still reach cron's mail through stderr.
    format!("{} {} >/dev/null", plan.calendar.cron(), words.join(" "))
}

/// The application a `# BEGIN lifeboat` line opens a block for: None for the lone
/// configuration's block; not a BEGIN line at all: outer None.
pub fn block_app(line: &str) -> Option<Option<String>> {
    let rest = line.strip_prefix(BEGIN)?;
    Some(
        rest.strip_prefix(" app=")
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string),
    )
}

pub fn block(plans: &[Plan], target: &Target) -> String {
    let app = target
        .app
        .as_ref()
        .map(|a| format!(" app={a}"))
        .unwrap_or_default();
    let mut text = format!(
        "{BEGIN}{app} (written by `lifeboat schedule install`; `lifeboat schedule uninstall` removes it)\n"
    );
    for plan in plans {
        text.push_str(&format!(
            "{SCHEDULE_MARK}{}: {}\n{}\n",
            plan.job.as_str(),
            plan.calendar.text,
            line(plan, target)
        ));
    }
    text.push_str(END);
    text.push('\n');
    text
}

/// `existing` without the lifeboat blocks of the applications `scope` covers, with `block`
/// (if any) where the first of them was, or at the end. Other blocks stay as they are.
pub fn replace_block(existing: &str, scope: &Scope, block: Option<&str>) -> String {
    let mut out = String::new();
    let mut inside = false;
    let mut placed = false;
    for l in existing.lines() {
        let opens = block_app(l).is_some_and(|app| scope.covers(app.as_deref()));
        if !inside && opens {
            inside = true;
            if let (Some(b), false) = (block, placed) {
                out.push_str(b);
                placed = true;
            }
            continue;
        }
        if inside {
            if l.trim_end() == END {
                inside = false;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if let (Some(b), false) = (block, placed) {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(b);
    }
    out
}

/// A scheduled job in a block.
#[derive(Debug, Clone, PartialEq)]
pub struct CronEntry {
    pub app: Option<String>,
    pub job: String,
    pub expression: String,
    pub line: String,
}

/// The jobs in the blocks, block by block.
pub fn entries(text: &str) -> Vec<CronEntry> {
    let mut found = Vec::new();
    let mut inside: Option<Option<String>> = None;
    let mut pending: Option<(String, String)> = None;
    for l in text.lines() {
        if let Some(app) = block_app(l) {
            inside = Some(app);
        } else if l.trim_end() == END {
            inside = None;
        } else if let Some(app) = &inside {
            if let Some(rest) = l.strip_prefix(SCHEDULE_MARK) {
                pending = rest
                    .split_once(": ")
                    .map(|(j, e)| (j.to_string(), e.to_string()));
            } else if let Some((job, expression)) = pending.take() {
                found.push(CronEntry {
                    app: app.clone(),
                    job,
                    expression,
                    line: l.to_string(),
                });
            }
        }
    }
    found
}

/// Where the crontab lives.
#[derive(Debug, Clone)]
pub enum Crontab<'a> {
    File(&'a Path),
    User,
}

impl Crontab<'_> {
    pub fn describe(&self) -> String {
        match self {
            Crontab::File(p) => p.display().to_string(),
            Crontab::User => "the user's crontab (crontab -l)".into(),
        }
    }

    pub fn read(&self) -> Result<String, String> {
        match self {
            Crontab::File(p) => match std::fs::read_to_string(p) {
                Ok(t) => Ok(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(format!("cannot read {}: {e}", p.display())),
            },
            Crontab::User => {
                let out = Command::new("crontab")
                    .arg("-l")
                    .stdin(Stdio::null())
                    .output()
                    .map_err(no_crontab)?;
                // `crontab -l` exits 1 with "no crontab for USER" when there is none yet.
                let stderr = String::from_utf8_lossy(&out.stderr);
                if out.status.success() || stderr.contains("no crontab") {
                    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                } else {
                    Err(format!("`crontab -l` failed: {}", stderr.trim()))
                }
            }
        }
    }

    pub fn write(&self, text: &str) -> Result<(), String> {
        match self {
            Crontab::File(p) => {
                std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
            }
            Crontab::User => {
                let mut child = Command::new("crontab")
                    .arg("-")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(no_crontab)?;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin
                        .write_all(text.as_bytes())
                        .map_err(|e| format!("cannot write to `crontab -`: {e}"))?;
                }
                let out = child
                    .wait_with_output()
                    .map_err(|e| format!("`crontab -` failed: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "`crontab -` refused the crontab: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            }
        }
    }
}

fn no_crontab(e: std::io::Error) -> String {
    format!("cannot run `crontab`: {e} (install cron: apt-get install cron; or use --systemd, or --crontab FILE)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_block_is_replaced_whole_and_the_rest_kept() {
        let mine = "MAILTO=ops\n0 1 * * * /usr/local/bin/other\n";
        let one = replace_block(
            mine,
            &Scope::App(None),
            Some("# BEGIN lifeboat (x)\nA\n# END lifeboat\n"),
        );
        assert_eq!(
            one,
            "MAILTO=ops\n0 1 * * * /usr/local/bin/other\n\n# BEGIN lifeboat (x)\nA\n# END lifeboat\n"
        );
        let two = replace_block(
            &one,
            &Scope::App(None),
            Some("# BEGIN lifeboat (x)\nB\n# END lifeboat\n"),
        );
        assert!(two.contains("\nB\n") && !two.contains("\nA\n"), "{two}");
        assert_eq!(two.matches(BEGIN).count(), 1);
        let gone = replace_block(&two, &Scope::Every, None);
        assert_eq!(gone.trim_end(), mine.trim_end());
    }

    #[test]
    fn each_application_has_a_block_of_its_own() {
        let shop =
            "# BEGIN lifeboat app=shop (x)\n# lifeboat-schedule backup: daily\nS\n# END lifeboat\n";
        let wiki = "# BEGIN lifeboat app=wiki (x)\n# lifeboat-schedule backup: hourly\nW\n# END lifeboat\n";
        let both = replace_block("", &Scope::App(Some("shop")), Some(shop));
        let both = replace_block(&both, &Scope::App(Some("wiki")), Some(wiki));
        let listed: Vec<(Option<String>, String)> = entries(&both)
            .into_iter()
            .map(|e| (e.app, e.line))
            .collect();
        assert_eq!(
            listed,
            [
                (Some("shop".into()), "S".into()),
                (Some("wiki".into()), "W".into())
            ]
        );
        // Reinstalling one replaces its block only, in place.
        let again = replace_block(
            &both,
            &Scope::App(Some("shop")),
            Some(&shop.replace("\nS\n", "\nS2\n")),
        );
        assert!(
            again.contains("\nS2\n") && again.contains("\nW\n"),
            "{again}"
        );
        assert!(again.find("S2") < again.find("\nW\n"), "{again}");
        // Removing one leaves the other; the lone configuration's block is another scope.
        let left = replace_block(&again, &Scope::App(Some("wiki")), None);
        assert_eq!(entries(&left).len(), 1, "{left}");
        assert_eq!(replace_block(&left, &Scope::App(None), None), left);
        assert_eq!(replace_block(&left, &Scope::Every, None).trim(), "");
    }

    #[test]
    fn words_survive_sh_and_cron() {
        assert_eq!(shell_word("/usr/bin/lifeboat"), "/usr/bin/lifeboat");
        assert_eq!(shell_word("/a b/it's"), "'/a b/it'\\''s'");
        assert_eq!(shell_word("/x%y"), "'/x\\%y'");
    }
}
