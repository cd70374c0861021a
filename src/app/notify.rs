//! Notification hooks (`[notify]`): commands run with `sh -c`, the event as one JSON document
//! on stdin, after a failed backup (`on_failure`), a status check that finds no recent backup
//! (`on_stale`) and a finished drill (`on_drill`, passed or not). A hook that fails, hangs or
//! cannot start is logged and printed as a warning: it never changes the outcome or the exit
//! code of the command that ran it, because monitoring must not turn a backup into a failure.

use crate::report::format;
use crate::storage::lock::this_host;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A hook gets this long, then it is killed and reported.
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// What happened, as a hook reads it on stdin. `event`, `repository`, `set_id`, `error`, `at`
/// and `host` are always present (`set_id` and `error` may be null); the rest depends on the
/// event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `failure`, `stale` or `drill`.
    pub event: &'static str,
    pub repository: String,
    pub set_id: Option<String>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    pub host: String,
    /// The command's exit code (failure, stale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The status verdict (stale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Seconds since the newest complete set finished (stale).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<f64>,
}

impl Event {
    pub fn new(event: &'static str, repository: &str) -> Event {
        Event {
            event,
            repository: repository.to_string(),
            set_id: None,
            error: None,
            at: Utc::now(),
            host: this_host(),
            exit_code: None,
            health: None,
            age_seconds: None,
            drill_id: None,
            passed: None,
            rto_seconds: None,
            rpo_seconds: None,
        }
    }
}

/// `[notify].on_failure` after a backup that failed: every failure but an operator's ctrl-c
/// (a timeout, a lost upload and a held lock all mean a backup did not happen).
pub async fn backup_failed(
    config: &super::config::Config,
    error: &crate::jobs::backup::BackupError,
    exit_code: i32,
) {
    use crate::jobs::backup::BackupError;
    if matches!(error, BackupError::Cancelled) || config.notify.on_failure.is_empty() {
        return;
    }
    let mut event = Event::new("failure", &config.repository.url);
    event.error = Some(error.to_string());
    event.exit_code = Some(exit_code);
    if let BackupError::Spooled { set_id, .. } = error {
        event.set_id = Some(set_id.to_string());
    }
    send(&config.notify.on_failure, &event).await;
}

/// Runs each hook in turn with the event on stdin. Returns one warning per hook that did not
/// exit 0 (also printed to stderr and logged).
pub async fn send(hooks: &[String], event: &Event) -> Vec<String> {
    if hooks.is_empty() {
        return Vec::new();
    }
    let payload = match serde_json::to_vec(event) {
        Ok(mut p) => {
            p.push(b'\n');
            p
        }
        Err(e) => {
            let w = format!(
                "cannot render the {} event for the notify hooks: {e}",
                event.event
            );
            eprintln!("warning: {w}");
            return vec![w];
        }
    };
    let mut warnings = Vec::new();
    for hook in hooks {
        match run_hook(hook, event.event, &payload).await {
            Ok(()) => tracing::info!(hook = %hook, event = event.event, "notify hook ran"),
            Err(reason) => {
                let w = format!(
                    "notify hook `{hook}` ({} event) failed: {reason}",
                    event.event
                );
                tracing::warn!("{w}");
                eprintln!("warning: {w}");
                warnings.push(w);
            }
        }
    }
    warnings
}

async fn run_hook(hook: &str, event: &str, payload: &[u8]) -> Result<(), String> {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(hook)
        .env("LIFEBOAT_EVENT", event)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The hook must not hold a pipe of a job that is still running (see inherit_only_stdio).
    crate::storage::postgres::inherit_only_stdio(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its input may exit before reading it: that is not a failure.
        let _ = stdin.write_all(payload).await;
    }
    let output = tokio::time::timeout(HOOK_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("still running after {}; killed", format::age(HOOK_TIMEOUT)))?
        .map_err(|e| format!("cannot wait for it: {e}"))?;
    let said = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let stdout = said(&output.stdout);
    if !stdout.is_empty() {
        tracing::info!(hook = %hook, "notify hook said: {stdout}");
    }
    if output.status.success() {
        Ok(())
    } else {
        let stderr = said(&output.stderr);
        Err(match output.status.code() {
            Some(code) => format!("exit {code}{}", tail(&stderr)),
            None => format!("killed by a signal{}", tail(&stderr)),
        })
    }
}

fn tail(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        let chars: Vec<char> = stderr.chars().collect();
        let start = chars.len().saturating_sub(300);
        format!(": {}", chars[start..].iter().collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hooks_get_the_event_and_failures_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("event.json");
        let hooks = vec![
            format!("cat > '{}'", out.display()),
            "echo broken >&2; exit 3".to_string(),
        ];
        let mut event = Event::new("failure", "file:///repo");
        event.error = Some("pg_dump failed".into());
        let warnings = send(&hooks, &event).await;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("exit 3: broken"), "{warnings:?}");
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(got["event"], "failure");
        assert_eq!(got["repository"], "file:///repo");
        assert_eq!(got["error"], "pg_dump failed");
        assert!(got["set_id"].is_null());
        assert!(got["at"].is_string());
    }
}
