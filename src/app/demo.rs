//! `lifeboat demo`: a whole installation in a temporary directory, built from real parts: an
//! ephemeral PostgreSQL cluster loaded with sample application data (`assets/demo.sql`), a file
//! store, secrets, a generated passphrase, local data and secrets repositories, and a config
//! file. It takes two backups and verifies them, so the history has something to show. Its log
//! stays in its directory (`state/logs/lifeboat.log`), like everything else it writes.
//!
//! `--fleet` adds two more applications beside it (`apps/crm.toml`, `apps/wiki.toml`: their
//! own database on the same cluster, their own files and repositories), so the fleet screen
//! opens on three: one healthy, one whose drill fails, one stale.

use super::apps::{self, AppEntry};
use super::config::Config;
use crate::jobs::backup;
use crate::jobs::drill;
use crate::jobs::progress::Reporter;
use crate::jobs::verify::{self, VerifyTarget};
use crate::jobs::CancellationToken;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::pg_cluster::{ClusterOptions, EphemeralCluster};
use rand::Rng;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const DEMO_SQL: &str = include_str!("../../assets/demo.sql");

/// A running demo: dropping it stops the cluster (the directory stays for inspection).
pub struct Demo {
    pub dir: PathBuf,
    pub config: Config,
    pub paths: LocalPaths,
    pub cluster: EphemeralCluster,
    /// Flushes the demo's log when the demo ends.
    pub log: Option<tracing_appender::non_blocking::WorkerGuard>,
    /// With `--fleet`: every application of the demo (the first one included), for the fleet
    /// screen; empty otherwise.
    pub fleet: Vec<AppEntry>,
}

impl Demo {
    /// How to reach the demo again from a shell, printed when it ends (with or without the
    /// console): the environment that points lifeboat at it, and a few commands to try.
    pub fn next_steps(&self) -> String {
        let config = self.config.path.display();
        let data = self.paths.data_dir.display();
        let state = self.paths.state_dir.display();
        if !self.fleet.is_empty() {
            let names: Vec<&str> = self.fleet.iter().map(|a| a.name.as_str()).collect();
            return format!(
                "\nThe demo fleet ({}) lives in {}.\n\
                 Its database was a throwaway cluster (stopped now); its repositories, journals, logs and configs stay:\n  \
                 export LIFEBOAT_CONFIG_DIR={dir} LIFEBOAT_DATA_DIR={data} LIFEBOAT_STATE_DIR={state}\n  \
                 lifeboat status --all; lifeboat --app crm drill list; lifeboat --app wiki list\n",
                names.join(", "),
                self.dir.display(),
                dir = self.dir.display(),
            );
        }
        format!(
            "\nThe demo lives in {}.\n\
             Its database was a throwaway cluster (stopped now); its repositories, journal, log and config stay:\n  \
             export LIFEBOAT_CONFIG={config} LIFEBOAT_DATA_DIR={data} LIFEBOAT_STATE_DIR={state}\n  \
             lifeboat list; lifeboat inventory; lifeboat status; lifeboat verify --all --decrypt\n",
            self.dir.display()
        )
    }
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn make_files(root: &Path) -> std::io::Result<()> {
    let mut rng = rand::rng();
    for i in 0..40 {
        let mut pdf = format!("%PDF-1.7\n% signed agreement {i}\n").into_bytes();
        let mut noise = vec![0u8; 8_000 + i * 1_500];
        rng.fill(&mut noise[..]);
        pdf.extend_from_slice(&noise);
        write(
            &root.join(format!(
                "documents/2026/{:02}/agreement-{i}.pdf",
                1 + i % 12
            )),
            &pdf,
            0o644,
        )?;
    }
    for i in 0..10 {
        write(
            &root.join(format!("avatars/user-{i}.txt")),
            format!("avatar of user {i}\n").repeat(50).as_bytes(),
            0o644,
        )?;
    }
    std::fs::create_dir_all(root.join("tmp"))?;
    Ok(())
}

/// The application's files and secrets under `home` (`app/uploads`, `app/cert.p12`,
/// `app/.env`).
fn make_application(home: &Path) -> std::io::Result<()> {
    make_files(&home.join("app/uploads"))?;
    let mut cert = vec![0u8; 2048];
    rand::rng().fill(&mut cert[..]);
    write(&home.join("app/cert.p12"), &cert, 0o640)?;
    write(
        &home.join("app/.env"),
        b"DATABASE_URL=postgresql://app@localhost/app\nMASTER_KEY=demo-only\n",
        0o600,
    )
}

/// An application's config: its files and repositories under `home` (the demo directory for
/// the first application, `<dir>/NAME` for the fleet's others), the one passphrase in `dir`.
fn config_text(dir: &Path, home: &Path, database_url: &str, server_url: &str) -> String {
    let d = dir.display();
    let h = home.display();
    format!(
        r#"# Written by `lifeboat demo`.
[source]
database_url = "{database_url}"
files = ["{h}/app/uploads"]
secrets = ["{h}/app/cert.p12", "{h}/app/.env"]
key_tables = ['"User"', "public.documents", "billing.invoices"]

[repository]
url = "file://{h}/backups"

[secrets_repository]
url = "file://{h}/backup-secrets"

[encryption]
mode = "passphrase"
passphrase_file = "{d}/passphrase"

[backup]
compression = "zstd"
level = 1

[retention]
# Small on purpose: of the demo's two sets only the newest is kept (it is also the newest
# verified one and the drill's), so the Retention screen and `lifeboat prune` have something
# to show. min_age is 0s only because the demo's sets are seconds old; keep the default 1h.
keep_last = 1
daily = 7
weekly = 4
monthly = 12
min_age = "0s"

[drill]
server_url = "{server_url}"
rto_target = "30m"
rpo_target = "24h"
freshness_query = "SELECT max(created_at) FROM audit_log"

[[drill.check]]
name = "invoices gapless"
sql = "SELECT count(*) FROM (SELECT number - lag(number) OVER (ORDER BY number) AS d FROM billing.invoices) g WHERE d <> 1"
expect = "0"

[[drill.check]]
name = "money is integer cents, never negative"
sql = "SELECT count(*) FROM billing.invoices WHERE amount_cents < 0"
expect = "0"

[[drill.manual]]
step = "Log in as a 2FA user on the restored instance"
"#
    )
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo setup: {0}")]
    Setup(String),
    #[error(transparent)]
    Cluster(#[from] crate::storage::pg_cluster::ClusterError),
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error(transparent)]
    Backup(#[from] backup::BackupError),
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    #[error(transparent)]
    Drill(#[from] drill::DrillError),
}

/// Builds the demo installation and its history (with `fleet`, the fleet's two more
/// applications too). `log` receives one line per step.
pub async fn build(
    dir: PathBuf,
    fleet: bool,
    log: &(dyn Fn(&str) + Sync),
) -> Result<Demo, DemoError> {
    let io = |e: std::io::Error| DemoError::Setup(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let paths = LocalPaths::under(&dir);
    // The binary leaves logging to the demo, so the log lands here and not in the operator's
    // own state directory.
    let log_guard = super::logging::init(&paths);
    log("starting a throwaway PostgreSQL cluster");
    let cluster =
        tokio::task::spawn_blocking(|| EphemeralCluster::start(ClusterOptions::default()))
            .await
            .map_err(|e| DemoError::Setup(e.to_string()))??;
    log("loading sample application data (users, documents, audit log, invoices)");
    cluster.create_database("app")?;
    cluster.psql("app", DEMO_SQL)?;
    make_application(&dir).map_err(io)?;
    let mut rng = rand::rng();
    let passphrase: String = (0..32)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect();
    write(
        &dir.join("passphrase"),
        format!("{passphrase}\n").as_bytes(),
        0o600,
    )
    .map_err(io)?;
    let config_path = dir.join("config.toml");
    write(
        &config_path,
        config_text(&dir, &dir, &cluster.url("app"), &cluster.url("postgres")).as_bytes(),
        0o600,
    )
    .map_err(io)?;
    let config = Config::load(&config_path)?;

    for round in 1..=2 {
        log(&format!("backup {round} of 2"));
        let spec = config.backup_spec(&paths, Initiator::Operator)?;
        backup::run(spec, Reporter::silent(), CancellationToken::new()).await?;
        // New activity between the two backups, so the sets differ.
        cluster.psql(
            "app",
            "INSERT INTO audit_log (document_id, action, created_at) SELECT 1 + i, 'opened', now() FROM generate_series(1, 50) i",
        )?;
    }
    log("verifying every set (decrypt and pg_restore --list)");
    let spec = config.verify_spec(&paths, VerifyTarget::All, true, Initiator::Operator)?;
    verify::run(spec, Reporter::silent(), CancellationToken::new()).await?;
    log("a timed restore drill into a scratch database (manual steps left for you)");
    let spec = config.drill_spec(&paths, None, Initiator::Operator)?;
    drill::run(spec, Reporter::silent(), CancellationToken::new()).await?;
    let fleet = if fleet {
        add_fleet(&dir, &cluster, &paths, log).await?
    } else {
        Vec::new()
    };
    Ok(Demo {
        dir,
        config,
        paths,
        cluster,
        log: log_guard,
        fleet,
    })
}

/// The fleet's two more applications, each a copy of the first with one thing wrong, as an
/// operator of several applications finds them. wiki goes first, so that its set is stale by
/// the time the fleet screen opens.
const FLEET_APPS: [(&str, &str, &str); 2] = [
    (
        "wiki",
        "",
        "\n[status]\n# The demo's stand-in for a backup timer that stopped firing: its one set turns\n\
         # stale within seconds. Keep the default (26h) on a real host.\nstale_after = \"1s\"\n",
    ),
    (
        "crm",
        // A gap in the invoice numbers, as a delete by hand leaves: the drill's
        // "invoices gapless" check fails on the restored copy.
        "DELETE FROM billing.invoices WHERE number = 1234",
        "",
    ),
];

/// Adds `apps/wiki.toml` and `apps/crm.toml` beside the demo's `config.toml` (named after its
/// database, `app`), backs each up once, verifies it and drills crm. Returns all three.
async fn add_fleet(
    dir: &Path,
    cluster: &EphemeralCluster,
    base: &LocalPaths,
    log: &(dyn Fn(&str) + Sync),
) -> Result<Vec<AppEntry>, DemoError> {
    let io = |e: std::io::Error| DemoError::Setup(format!("{}: {e}", dir.display()));
    for (name, damage, extra) in FLEET_APPS {
        log(&format!(
            "fleet: application {name} (its own database, files and repositories)"
        ));
        cluster.create_database(name)?;
        cluster.psql(name, DEMO_SQL)?;
        if !damage.is_empty() {
            cluster.psql(name, damage)?;
        }
        let home = dir.join(name);
        make_application(&home).map_err(io)?;
        let path = dir.join(apps::APPS_DIR).join(format!("{name}.toml"));
        let text = config_text(dir, &home, &cluster.url(name), &cluster.url("postgres")) + extra;
        write(&path, text.as_bytes(), 0o600).map_err(io)?;
        let config = Config::load(&path)?;
        let paths = apps::app_paths(base, name);
        let spec = config.backup_spec(&paths, Initiator::Operator)?;
        backup::run(spec, Reporter::silent(), CancellationToken::new()).await?;
        let spec = config.verify_spec(&paths, VerifyTarget::All, true, Initiator::Operator)?;
        verify::run(spec, Reporter::silent(), CancellationToken::new()).await?;
        if !damage.is_empty() {
            log(&format!(
                "fleet: a drill of {name} (its gapless-invoices check fails)"
            ));
            let spec = config.drill_spec(&paths, None, Initiator::Operator)?;
            drill::run(spec, Reporter::silent(), CancellationToken::new()).await?;
        }
    }
    apps::discover(dir, base).map_err(|e| DemoError::Setup(e.to_string()))
}

/// A fresh directory for a demo: `/tmp/lifeboat-demo-XXXX`.
pub fn fresh_dir() -> std::io::Result<PathBuf> {
    Ok(tempfile::Builder::new()
        .prefix("lifeboat-demo-")
        .tempdir()?
        .keep())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_has_a_retention_policy_that_expires_the_older_set() {
        let dir = Path::new("/tmp/lifeboat-demo-test");
        let text = config_text(dir, dir, "postgresql:///app", "postgresql:///postgres");
        let config = Config::parse(&dir.join("config.toml"), &text).unwrap();
        let policy = config.retention_policy().unwrap();
        // Two verified sets a minute apart, the newer one drilled, planned a minute later:
        // the older one expires, so the demo's prune has something to do.
        let now = chrono::Utc::now();
        let set = |id: &str, minutes: i64, drilled: bool| crate::storage::retention::Candidate {
            id: id.into(),
            time: now - chrono::Duration::minutes(minutes),
            complete: true,
            verified: true,
            pinned: None,
            drill_passed: drilled,
            safety: false,
            future: false,
        };
        let plan = policy.plan(&[set("old", 2, false), set("new", 1, true)], now);
        assert_eq!(plan.expired(), vec!["old"]);
    }
}
