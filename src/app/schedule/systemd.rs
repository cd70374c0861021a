//! systemd units for scheduled runs: one `Type=oneshot` service and one timer per job
//! (`lifeboat-backup.service` and `lifeboat-backup.timer`, ...; for an application of
//! `apps/NAME.toml`, `lifeboat-NAME-backup.service`, so several applications never share a
//! unit), their text, and reading them back for `schedule status` (with `systemctl
//! list-timers` when systemd runs the directory).

use super::{Job, Plan, Scope, Target};
use chrono::{DateTime, Local};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const HEADER: &str =
    "# Written by `lifeboat schedule install`; `lifeboat schedule uninstall` removes it.";
/// The expression as given, so `schedule status` can compute fire times without systemd.
pub const SCHEDULE_MARK: &str = "# lifeboat-schedule: ";

/// `lifeboat-JOB`, or `lifeboat-APP-JOB` for an application of `apps/`.
pub fn unit_name(app: Option<&str>, job: Job) -> String {
    match app {
        Some(app) => format!("lifeboat-{app}-{}", job.as_str()),
        None => format!("lifeboat-{}", job.as_str()),
    }
}

/// The application and job of a lifeboat unit file name (`lifeboat-backup.timer`,
/// `lifeboat-shop-backup.service`); None for any other file. The job is always the last word,
/// so an application named like a job is still told apart.
pub fn parse_unit_name(file: &str) -> Option<(Option<String>, Job)> {
    let stem = file
        .strip_suffix(".timer")
        .or_else(|| file.strip_suffix(".service"))?;
    let rest = stem.strip_prefix("lifeboat-")?;
    let job_of = |word: &str| Job::ALL.into_iter().find(|j| j.as_str() == word);
    if let Some(job) = job_of(rest) {
        return Some((None, job));
    }
    let (app, job) = rest.rsplit_once('-')?;
    let job = job_of(job)?;
    crate::app::apps::valid_name(app).then(|| (Some(app.to_string()), job))
}

/// A systemd word in double quotes: C escapes for `\` and `"`, `%%` for a literal `%`
/// (specifiers) and `$$` for a literal `$` (variable expansion in ExecStart).
pub fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A word as is when it needs no quoting, else [`quote`]d.
pub fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@+,".contains(c));
    if plain {
        text.to_string()
    } else {
        quote(text)
    }
}

/// Time spans as systemd reads them: whole minutes as `Nmin`, else seconds.
fn span(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s.is_multiple_of(60) {
        format!("{}min", s / 60)
    } else {
        format!("{s}s")
    }
}

pub fn service_text(plan: &Plan, target: &Target) -> String {
    let mut exec = vec![
        word(&target.binary.to_string_lossy()),
        "--config".to_string(),
        word(&target.config.to_string_lossy()),
    ];
    exec.extend(plan.args.iter().map(|a| word(a)));
    let mut text = format!(
        "{HEADER}\n[Unit]\nDescription=lifeboat {} ({})\n\
         Wants=network-online.target\nAfter=network-online.target\n\n\
         [Service]\nType=oneshot\nExecStart={}\n",
        plan.job.as_str(),
        target.config.display(),
        exec.join(" ")
    );
    for (key, value) in &target.env {
        // Environment= values take specifiers and C escapes, not `$` expansion.
        let quoted = quote(&format!("{key}={value}")).replace("$$", "$");
        text.push_str(&format!("Environment={quoted}\n"));
    }
    if let Some(file) = &target.env_file {
        text.push_str(&format!(
            "# Credentials (AWS_*, PGPASSWORD) belong here, mode 0600, never in this unit.\nEnvironmentFile=-{}\n",
            file.to_string_lossy().replace('%', "%%")
        ));
    }
    // Backups read the whole database and file tree: let the application come first.
    text.push_str("Nice=10\nIOSchedulingClass=idle\n");
    text
}

pub fn timer_text(plan: &Plan, on_calendar: &str, delay: Duration) -> String {
    format!(
        "{HEADER}\n{SCHEDULE_MARK}{}\n[Unit]\nDescription=lifeboat {}, {}\n\n\
         [Timer]\nOnCalendar={on_calendar}\n\
         # A run missed while the machine was off starts at the next boot.\nPersistent=true\n\
         # Spreads the start, so many hosts do not hit the database and the bucket at once.\n\
         RandomizedDelaySec={}\n\n[Install]\nWantedBy=timers.target\n",
        plan.calendar.text,
        plan.job.as_str(),
        plan.calendar.text,
        span(delay)
    )
}

/// A job found in a unit directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    /// The application of `apps/` it runs for; None for the lone configuration.
    pub app: Option<String>,
    pub job: String,
    pub timer: PathBuf,
    pub expression: Option<String>,
    pub on_calendar: Option<String>,
    pub exec_start: Option<String>,
}

fn value_of<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// Every lifeboat timer in `dir`, by application (the lone configuration's first) and job.
pub fn installed(dir: &Path) -> Vec<Installed> {
    let mut found = Vec::new();
    for (app, job, timer) in timers_in(dir) {
        let Ok(text) = std::fs::read_to_string(&timer) else {
            continue;
        };
        let name = unit_name(app.as_deref(), job);
        let service =
            std::fs::read_to_string(dir.join(format!("{name}.service"))).unwrap_or_default();
        found.push(Installed {
            app,
            job: job.as_str().to_string(),
            expression: value_of(&text, SCHEDULE_MARK).map(str::to_string),
            on_calendar: value_of(&text, "OnCalendar=").map(str::to_string),
            exec_start: value_of(&service, "ExecStart=").map(str::to_string),
            timer,
        });
    }
    found
}

/// The lifeboat timers in `dir`, sorted by application then job order.
fn timers_in(dir: &Path) -> Vec<(Option<String>, Job, PathBuf)> {
    let mut found: Vec<(Option<String>, Job, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let (app, job) = parse_unit_name(&file).filter(|_| file.ends_with(".timer"))?;
            Some((app, job, entry.path()))
        })
        .collect();
    let order = |j: Job| Job::ALL.iter().position(|x| *x == j);
    found.sort_by(|a, b| (&a.0, order(a.1)).cmp(&(&b.0, order(b.1))));
    found
}

/// Every lifeboat unit file in `dir` of the applications `scope` covers.
pub fn unit_files(dir: &Path, scope: &Scope) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            parse_unit_name(&entry.file_name().to_string_lossy())
                .is_some_and(|(app, _)| scope.covers(app.as_deref()))
        })
        .map(|entry| entry.path())
        .collect();
    files.sort();
    files
}

/// Runs `systemctl [--user] ARGS`; returns stdout, or why it failed.
pub fn systemctl(user: bool, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("systemctl");
    if user {
        cmd.arg("--user");
    }
    let out = cmd
        .args(args)
        .output()
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`systemctl {}{}` failed: {}",
            if user { "--user " } else { "" },
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `NEXT` of each lifeboat timer from `systemctl list-timers` (as systemd prints it, in local
/// time), keyed by timer unit name.
pub fn list_timers(user: bool) -> Option<Vec<(String, String)>> {
    let text = systemctl(
        user,
        &[
            "list-timers",
            "--all",
            "--no-pager",
            "--no-legend",
            "lifeboat-*.timer",
        ],
    )
    .ok()?;
    Some(
        text.lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let unit = words.iter().position(|w| w.ends_with(".timer"))?;
                // NEXT is `Day YYYY-MM-DD HH:MM:SS TZ`, or `-`/`n/a` when not scheduled.
                let next = if words.len() >= 4 && words[1].contains('-') {
                    words[..4].join(" ")
                } else {
                    "not scheduled".into()
                };
                Some((words[unit].to_string(), next))
            })
            .collect(),
    )
}

/// The next fire time computed from the recorded expression, for directories systemd does not
/// run (or when `systemctl` is not there).
pub fn computed_next(entry: &Installed) -> Option<DateTime<Local>> {
    let expr = entry.expression.as_deref()?;
    super::calendar::Calendar::parse(expr)
        .ok()?
        .next_after(&Local::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_systemd() {
        assert_eq!(quote("/opt/life boat/x"), "\"/opt/life boat/x\"");
        assert_eq!(quote("a%b$c\"d\\"), "\"a%%b$$c\\\"d\\\\\"");
        assert_eq!(word("/usr/bin/lifeboat"), "/usr/bin/lifeboat");
        assert_eq!(word("/a b"), "\"/a b\"");
        assert_eq!(span(Duration::from_secs(1800)), "30min");
        assert_eq!(word("/usr/bin/lifeboat"), "/usr/bin/lifeboat");
        assert_eq!(word("/a b"), "\"/a b\"");
        assert_eq!(span(Duration::from_secs(45)), "45s");
    }

    #[test]
    fn unit_names_carry_the_application_and_read_back() {
        assert_eq!(unit_name(None, Job::Backup), "lifeboat-backup");
        assert_eq!(unit_name(Some("shop"), Job::Drill), "lifeboat-shop-drill");
        assert_eq!(
            parse_unit_name("lifeboat-backup.timer"),
            Some((None, Job::Backup))
        );
        assert_eq!(
            parse_unit_name("lifeboat-my-app-verify.service"),
            Some((Some("my-app".into()), Job::Verify))
        );
        // An application named like a job: the job is the last word.
        assert_eq!(
            parse_unit_name("lifeboat-backup-drill.timer"),
            Some((Some("backup".into()), Job::Drill))
        );
        for other in [
            "lifeboat-backup.conf",
            "lifeboat-shop-prune.timer",
            "other-backup.timer",
            "lifeboat-Shop-backup.timer",
        ] {
            assert_eq!(parse_unit_name(other), None, "{other}");
        }
    }
}
