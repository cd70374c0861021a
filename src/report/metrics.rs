//! `lifeboat status --format prometheus`: the status report as Prometheus text exposition
//! (the format node_exporter's textfile collector reads). Every family has HELP and TYPE lines;
//! every sample carries the repository URL as a label, so several installations can share one
//! collector directory. A value that does not exist yet (no backup, no drill) is left out
//! rather than written as zero, which would read as "1970".

use crate::jobs::status::{Health, StatusReport};
use crate::jobs::wal::WalState;
use crate::storage::manifest::RepositoryRole;
use chrono::{DateTime, Utc};
use std::fmt::Write;

struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

struct Exposition {
    repository: String,
    /// `status --all`: the application every sample is about.
    app: Option<String>,
    families: Vec<Family>,
}

impl Exposition {
    fn family(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
    ) -> &mut Family {
        self.families.push(Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        });
        let last = self.families.len() - 1;
        &mut self.families[last]
    }

    fn gauge(&mut self, name: &'static str, help: &'static str, value: Option<f64>) {
        if let Some(v) = value {
            self.family(name, "gauge", help)
                .samples
                .push((Vec::new(), v));
        }
    }

    fn counter(&mut self, name: &'static str, help: &'static str, value: Option<f64>) {
        if let Some(v) = value {
            self.family(name, "counter", help)
                .samples
                .push((Vec::new(), v));
        }
    }

    fn render(&self) -> String {
        render_all(std::slice::from_ref(self))
    }

    fn samples(&self, f: &Family, out: &mut String) {
        for (labels, value) in &f.samples {
            let mut all = Vec::new();
            if let Some(app) = &self.app {
                all.push(format!("app=\"{}\"", escape_label(app)));
            }
            all.push(format!("repository=\"{}\"", escape_label(&self.repository)));
            all.extend(
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))),
            );
            let _ = writeln!(out, "{}{{{}}} {}", f.name, all.join(","), number(*value));
        }
    }
}

/// Several expositions as one: each family's HELP and TYPE once (a repeated family is
/// invalid exposition), then every exposition's samples of it.
fn render_all(expositions: &[Exposition]) -> String {
    let mut names: Vec<&'static str> = Vec::new();
    for f in expositions.iter().flat_map(|x| &x.families) {
        if !f.samples.is_empty() && !names.contains(&f.name) {
            names.push(f.name);
        }
    }
    let mut out = String::new();
    for name in names {
        let mut headed = false;
        for x in expositions {
            for f in x.families.iter().filter(|f| f.name == name) {
                if !headed {
                    let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
                    let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
                    headed = true;
                }
                x.samples(f, &mut out);
            }
        }
    }
    out
}

const EXIT_CODE_HELP: &str =
    "The exit code `lifeboat status` returned (0 healthy; the README lists the others).";
const TIMESTAMP_HELP: &str = "When this status was taken (Unix time).";

/// `status --all --format prometheus`: every application's exposition with an `app` label
/// on every sample; an application without a report (a broken configuration) still has its
/// exit code, so an alert can fire on it.
pub fn prometheus_fleet(
    apps: &[(&str, crate::report::status::AppStatus<'_>)],
    now: DateTime<Utc>,
) -> String {
    use crate::report::status::AppStatus;
    let expositions: Vec<Exposition> = apps
        .iter()
        .map(|(app, status)| {
            let mut x = match status {
                AppStatus::Report(report) => exposition(report, now),
                AppStatus::Error { exit_code, .. } => {
                    let mut x = Exposition {
                        repository: String::new(),
                        app: None,
                        families: Vec::new(),
                    };
                    x.gauge(
                        "lifeboat_status_exit_code",
                        EXIT_CODE_HELP,
                        Some(f64::from(*exit_code)),
                    );
                    x.gauge(
                        "lifeboat_status_timestamp_seconds",
                        TIMESTAMP_HELP,
                        Some(seconds(now)),
                    );
                    x
                }
            };
            x.app = Some(app.to_string());
            x
        })
        .collect();
    render_all(&expositions)
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Integers without a fraction, the rest with what f64 needs; never NaN or infinities.
fn number(v: f64) -> String {
    if !v.is_finite() {
        "0".into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn flag(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The whole exposition for one report, as of `now`.
pub fn prometheus(report: &StatusReport, now: DateTime<Utc>) -> String {
    exposition(report, now).render()
}

fn exposition(report: &StatusReport, now: DateTime<Utc>) -> Exposition {
    let mut x = Exposition {
        repository: report.repository.clone(),
        app: None,
        families: Vec::new(),
    };
    let health = x.family(
        "lifeboat_health",
        "gauge",
        "The verdict of `lifeboat status`: 1 for the current state, 0 for the others.",
    );
    for h in Health::ALL {
        health.samples.push((
            vec![("state", h.as_str().to_string())],
            flag(h == report.health),
        ));
    }
    let alerts = x.family(
        "lifeboat_alert",
        "gauge",
        "1 for each condition `lifeboat status` found (the verdict is the worst), else 0.",
    );
    for h in Health::ALL.into_iter().filter(|h| *h != Health::Ok) {
        alerts.samples.push((
            vec![("condition", h.as_str().to_string())],
            flag(report.alerts.contains(&h)),
        ));
    }
    x.gauge(
        "lifeboat_status_exit_code",
        EXIT_CODE_HELP,
        Some(f64::from(report.health.exit_code())),
    );
    x.gauge(
        "lifeboat_status_timestamp_seconds",
        TIMESTAMP_HELP,
        Some(seconds(now)),
    );
    let newest = report.newest_set.as_ref();
    x.gauge(
        "lifeboat_last_success_timestamp_seconds",
        "When the newest complete backup set finished (Unix time).",
        newest.map(|n| seconds(n.finished_at)),
    );
    x.gauge(
        "lifeboat_last_snapshot_timestamp_seconds",
        "The database snapshot time of the newest complete set: its RPO reference (Unix time).",
        newest.map(|n| seconds(n.snapshot_time)),
    );
    x.gauge(
        "lifeboat_last_backup_size_bytes",
        "Bytes the newest complete set stores in the data repository.",
        newest.map(|n| n.stored_bytes as f64),
    );
    x.gauge(
        "lifeboat_last_backup_duration_seconds",
        "Wall time of the run that made the newest complete set.",
        newest.map(|n| n.duration_seconds),
    );
    if let Some(n) = newest {
        let stored = x.family(
            "lifeboat_component_bytes",
            "gauge",
            "Stored (compressed, encrypted) bytes of each component of the newest set.",
        );
        for c in &n.components {
            stored.samples.push((
                vec![
                    ("component", c.component.as_str().to_string()),
                    (
                        "store",
                        match c.repository {
                            RepositoryRole::Data => "data",
                            RepositoryRole::Secrets => "secrets",
                        }
                        .to_string(),
                    ),
                ],
                c.stored_bytes as f64,
            ));
        }
        let source = x.family(
            "lifeboat_component_source_bytes",
            "gauge",
            "Bytes read from the source for each component of the newest set, before compression.",
        );
        for c in &n.components {
            source.samples.push((
                vec![("component", c.component.as_str().to_string())],
                c.source_bytes as f64,
            ));
        }
    }
    x.gauge(
        "lifeboat_complete_sets",
        "Complete sets in the repository.",
        Some(report.complete_sets as f64),
    );
    x.gauge(
        "lifeboat_incomplete_sets",
        "Set folders without a manifest (not backups).",
        Some(report.incomplete_sets as f64),
    );
    x.gauge(
        "lifeboat_repository_bytes",
        "Bytes stored in the data repository.",
        Some(report.repository_bytes as f64),
    );
    x.gauge(
        "lifeboat_spooled_sets",
        "Sets waiting in the local spool for upload.",
        Some(report.spooled_sets.len() as f64),
    );
    x.gauge(
        "lifeboat_verification_age_seconds",
        "Seconds since the newest successful verification of any set of this repository.",
        report
            .last_verified_at
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
    );
    x.gauge(
        "lifeboat_last_verification_timestamp_seconds",
        "When a set of this repository was last verified successfully (Unix time).",
        report.last_verified_at.map(seconds),
    );
    let drill = report.newest_drill.as_ref();
    x.gauge(
        "lifeboat_drill_passed",
        "1 when the newest restore drill passed, 0 when it failed.",
        drill.map(|d| flag(d.passed)),
    );
    x.gauge(
        "lifeboat_drill_timestamp_seconds",
        "When the newest restore drill started (Unix time).",
        drill.map(|d| seconds(d.at)),
    );
    x.gauge(
        "lifeboat_drill_rto_seconds",
        "Recovery time measured by the newest drill (start to all checks green).",
        drill.and_then(|d| d.rto_seconds),
    );
    x.gauge(
        "lifeboat_drill_rpo_seconds",
        "Recovery point measured by the newest drill (start minus the newest restored data).",
        drill.and_then(|d| d.rpo_seconds),
    );
    x.gauge(
        "lifeboat_drill_due_timestamp_seconds",
        "When the next restore drill is due (Unix time).",
        report.drill_due.map(seconds),
    );
    if let Some(w) = &report.wal {
        x.gauge(
            "lifeboat_wal_source_up",
            "1 when the source database answered the WAL archiving probe.",
            Some(flag(w.state != WalState::Unreachable)),
        );
        let state = x.family(
            "lifeboat_wal_archiving",
            "gauge",
            "The source's WAL archiving state: 1 for the current one (ok, failing, waiting, off, unreachable).",
        );
        for s in [
            WalState::Ok,
            WalState::Failing,
            WalState::Waiting,
            WalState::Off,
            WalState::Unreachable,
        ] {
            let name = serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            state
                .samples
                .push((vec![("state", name)], flag(s == w.state)));
        }
        x.gauge(
            "lifeboat_wal_last_archived_timestamp_seconds",
            "When the source last archived a WAL segment (Unix time).",
            w.last_archived_time.map(seconds),
        );
        x.gauge(
            "lifeboat_wal_effective_rpo_seconds",
            "Age of the last archived WAL segment: the effective RPO while archiving works.",
            w.effective_rpo_seconds.map(|s| s as f64),
        );
        x.counter(
            "lifeboat_wal_archived_total",
            "WAL segments the source archived (pg_stat_archiver.archived_count).",
            w.archived_count.map(|c| c as f64),
        );
        x.counter(
            "lifeboat_wal_archive_failures_total",
            "Failed archive attempts on the source (pg_stat_archiver.failed_count).",
            w.failed_count.map(|c| c as f64),
        );
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels_are_escaped() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(f64::NAN), "0");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
