//! The "Recover from a repository" screen driven as an operator would, in tmux at 80x24, on a
//! bare host (empty HOME and XDG directories, no configuration: only the AWS environment, a
//! passphrase file and the repository on a real S3 server, s3s-fs). The set was backed up
//! from a real cluster whose restore is slowed by an index that sleeps per row (as
//! tests/pg_cancel.rs does), so the tests act *during* pg_restore.
//!
//! - The operator types the URL, endpoint, secrets repository and key file, picks the set,
//!   names a new cluster and a files prefix, reads the plan and the worker's line, types the
//!   database name. The steps tick. During pg_restore a tmux client attached to the console
//!   is SIGKILLed and a new one attached: it shows the recovery in pg_restore. Then the
//!   terminal itself is lost (the tmux server is killed, the console SIGKILLed): the worker goes on; `recover --resume` refuses it (exit 4,
//!   naming its pid); a new `lifeboat` opens on it "running headless", then finished with
//!   its RTO, and the restored database holds the source's data; the configuration it wrote
//!   makes the next `lifeboat` the normal console, which shows "Recovered".
//! - The worker is SIGKILLed during pg_restore: a new `lifeboat` shows "stopped at
//!   pg_restore: press r"; r asks for the name typed (pg_restore was cut off), and the
//!   resumed recovery finishes with the same data.
#![allow(clippy::unwrap_used)]

mod common;
mod console_support;

use common::app::{AppOptions, RepoKind, TestApp, APP_DB, S3_PREFIX};
use common::{describe, text};
use console_support::Console;
use lifeboat::jobs::recover::worker::{self, Worker};
use lifeboat::storage::local_cluster::LocalCluster;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Rows of the slow table; each costs [`SLEEP_PER_ROW`] of index build in the restore.
const SLOW_ROWS: u32 = 240;
const SLEEP_PER_ROW: &str = "0.05";
/// A screen on a contended machine.
const WAIT: Duration = Duration::from_secs(60);
/// The whole recovery after the kill (create the cluster, the rest of pg_restore, files...).
const FINISH: Duration = Duration::from_secs(120);

/// A source whose restore takes a while, backed up once into s3s-fs.
fn backed_up_app() -> TestApp {
    let app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        ..Default::default()
    });
    // An index whose expression sleeps per row unless the session turns it off (this set-up
    // does; pg_restore's sessions do not): restoring it takes SLOW_ROWS × 50 ms.
    app.psql(&format!(
        "CREATE FUNCTION public.slow_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ \
         BEGIN \
           IF coalesce(current_setting('lifeboat_test.fast', true), '') <> 'on' THEN \
             PERFORM pg_catalog.pg_sleep({SLEEP_PER_ROW}); \
           END IF; \
           RETURN $1; \
         END $$; \
         SET lifeboat_test.fast = 'on'; \
         CREATE TABLE public.slow (id int PRIMARY KEY); \
         INSERT INTO public.slow SELECT generate_series(1, {SLOW_ROWS}); \
         CREATE INDEX slow_by_key ON public.slow (public.slow_key(id));"
    ));
    app.backup();
    app
}

/// A bare host: its own HOME, XDG and lifeboat directories, nothing in them.
struct Bare {
    dir: tempfile::TempDir,
}

impl Bare {
    fn new() -> Bare {
        let dir = tempfile::Builder::new()
            .prefix("lb-bare-console-")
            .tempdir_in("/tmp")
            .unwrap();
        // The new cluster's server runs as `postgres` when we are root: it must reach its dir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["home", "xdg/config", "xdg/data", "xdg/state", "xdg/cache"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Bare { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Over the app's environment (its S3 credentials, NO_COLOR): this host's directories.
    fn env(&self) -> Vec<(String, String)> {
        let p = |rel: &str| self.path(rel).display().to_string();
        vec![
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("xdg/config")),
            ("XDG_DATA_HOME".into(), p("xdg/data")),
            ("XDG_STATE_HOME".into(), p("xdg/state")),
            ("XDG_CACHE_HOME".into(), p("xdg/cache")),
            ("LIFEBOAT_DATA_DIR".into(), p("xdg/data/lifeboat")),
            ("LIFEBOAT_STATE_DIR".into(), p("xdg/state/lifeboat")),
        ]
    }

    fn recoveries(&self) -> PathBuf {
        self.path("xdg/state/lifeboat/recoveries")
    }

    fn open(&self, app: &TestApp, name: &str) -> Console {
        let env = self.env();
        let extra: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Console::start_with_args(app, name, &extra, "")
    }

    fn lifeboat(&self, app: &TestApp, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(app.env())
            .envs(self.env())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// Whatever happens to the test: the workers it left are killed, the cluster stopped.
struct Cleanup {
    recoveries: PathBuf,
    cluster: LocalCluster,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.recoveries).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "lock") {
                let id = path.file_stem().unwrap().to_string_lossy().into_owned();
                if let Worker::Running(pid) = worker::status(&self.recoveries, &id) {
                    // SAFETY: kill(2) of a pid that holds this test's lock.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        if self.cluster.running() {
            let _ = self.cluster.stop();
        }
    }
}

/// The recovery's id and its worker's pid, as the runbook screen shows them.
fn running(screen: &str) -> Option<(String, u32)> {
    let head = screen.lines().find(|l| l.contains("Recovery "))?;
    let id = head.split("Recovery ").nth(1)?.split_whitespace().next()?;
    let line = screen
        .lines()
        .find(|l| l.contains("running headless (pid "))?;
    let pid = line
        .split("(pid ")
        .nth(1)?
        .split(')')
        .next()?
        .parse()
        .ok()?;
    Some((id.to_string(), pid))
}

/// The operator's walk from the empty form to the typed confirmation; returns the console
/// once the worker runs pg_restore, with the recovery's id and the worker's pid.
fn start_recovery(
    app: &TestApp,
    bare: &Bare,
    console: &Console,
    datadir: &Path,
    prefix: &Path,
) -> (String, u32) {
    let s3 = app.s3().unwrap();
    console.wait_for_text(&["Recover from a repository", "Repository URL"], WAIT);
    console.keys(&["Enter"]);
    console.type_text(&format!("s3://{}/{S3_PREFIX}", s3.bucket()));
    console.keys(&["Enter", "Enter"]);
    console.type_text(&s3.endpoint());
    console.keys(&["Enter", "j", "Enter"]);
    console.type_text(&format!("file://{}", app.secrets_repo_dir().display()));
    console.keys(&["Enter", "j", "Enter"]);
    console.type_text(&app.passphrase_file().unwrap().display().to_string());
    console.keys(&["Enter"]);
    let form = console.wait_for_text(&["[ List the sets ]", "Passphrase file"], WAIT);
    assert!(!form.contains(app.passphrase().unwrap()), "{form}");
    console.keys(&["Enter"]);
    let sets = console.wait_for_text(&["newest first", "verified"], WAIT);
    assert!(sets.contains(" MiB") || sets.contains(" KiB"), "{sets}");
    console.keys(&["Enter"]);
    console.wait_for_text(&["Data directory", "(suggested)"], WAIT);
    console.keys(&["Enter"]);
    console.type_text(&datadir.display().to_string());
    console.keys(&["Enter", "j", "Enter"]);
    console.type_text(&prefix.display().to_string());
    console.keys(&["Enter", "Enter"]);
    let plan = console.wait_for_text(&["Recovery plan", "Type the database name `app`"], WAIT);
    let shown = shown_command(&plan);
    assert!(
        shown.starts_with("lifeboat recover --repository s3://") && shown.ends_with(" --yes"),
        "{plan}"
    );
    console.type_text("ap");
    console.keys(&["Enter"]);
    console.wait_for_text(&["is not `app`"], WAIT);
    console.type_text(APP_DB);
    console.keys(&["Enter"]);
    let (id, pid) = console.wait_for("pg_restore running headless", FINISH, |s| {
        running(s).filter(|_| s.contains("⟳ pg_restore"))
    });
    // The worker runs exactly the line the plan showed (its log's first line says what ran).
    let log = std::fs::read_to_string(bare.recoveries().join(format!("{id}.log"))).unwrap();
    let first = log.lines().next().unwrap();
    assert!(
        first.ends_with(&format!(" UTC {shown}")),
        "{first}\nshown: {shown}"
    );
    (id, pid)
}

/// The worker's line as the plan screen shows it (wrapped at spaces), joined again.
fn shown_command(plan: &str) -> String {
    plan.lines()
        .skip_while(|l| !l.contains("The same, headless"))
        .skip(1)
        .take_while(|l| !l.contains("This restores"))
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_recovery_goes_on_headless_when_the_terminal_is_lost_and_the_console_reopens_on_it() {
    let app = backed_up_app();
    let bare = Bare::new();
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let cluster = LocalCluster {
        data_dir: datadir.clone(),
        bin_dir: app.cluster().bin_dir().to_path_buf(),
    };
    let _cleanup = Cleanup {
        recoveries: bare.recoveries(),
        cluster: cluster.clone(),
    };
    let console = bare.open(&app, "recover-a");
    let (id, pid) = start_recovery(&app, &bare, &console, &datadir, &prefix);
    let screen = console.screen();
    assert!(
        screen.contains("the recovery goes on without this screen; its log:"),
        "{screen}"
    );

    // The SSH session holding a tmux client on the console drops: the client is SIGKILLed,
    // a new one attaches, and shows the same recovery still in pg_restore.
    let first = console.attach_client("first");
    first.wait_for_text(&["running headless (pid", "pg_restore"], WAIT);
    let clients = console.client_pids();
    assert_eq!(clients.len(), 1, "{clients:?}");
    // SAFETY: kill(2) of the tmux client this test attached.
    unsafe { libc::kill(clients[0] as i32, libc::SIGKILL) };
    drop(first);
    let deadline = std::time::Instant::now() + WAIT;
    while !console.client_pids().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed client is still listed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = console.attach_client("second");
    let screen = second.wait_for_text(
        &[&format!("running headless (pid {pid})"), "⟳ pg_restore"],
        WAIT,
    );
    assert!(screen.contains(&id), "{screen}");
    drop(second);

    // The terminal is lost: the tmux server goes (SIGHUP), then the console is SIGKILLed.
    let console_pid = console.pid();
    drop(console);
    // SAFETY: kill(2) of the console this test started (gone already, most likely).
    unsafe { libc::kill(console_pid as i32, libc::SIGKILL) };
    assert_eq!(
        worker::status(&bare.recoveries(), &id),
        Worker::Running(pid)
    );

    // Headless, the same recovery is refused while its worker lives.
    let refused = bare.lifeboat(&app, &["recover", "--resume", "--recovery", &id]);
    assert_eq!(refused.status.code(), Some(4), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains(&format!("pid {pid}")),
        "{}",
        describe(&refused)
    );

    let again = bare.open(&app, "recover-b");
    let screen = again.wait_for_text(
        &[&format!("running headless (pid {pid})"), "pg_restore"],
        WAIT,
    );
    assert!(screen.contains(&id), "{screen}");
    let done = again.wait_for_text(&["finished", "RTO", "Configuration written"], FINISH);
    assert!(!done.contains('⟳') && !done.contains('✗'), "{done}");
    assert_eq!(
        app.data_dump_of(&cluster.url(APP_DB)),
        app.data_dump(),
        "the recovered database differs from the source"
    );
    assert!(bare.path("xdg/config/lifeboat/config.toml").is_file());

    // The configuration is written: the next `lifeboat` is the normal console, which shows
    // the recovery.
    again.keys(&["q"]);
    again.wait_for_exit(WAIT);
    drop(again);
    let normal = bare.open(&app, "recover-c");
    let dashboard = normal.wait_for_text(&["Recovered", &id], WAIT);
    assert!(
        !dashboard.contains("Recover from a repository"),
        "{dashboard}"
    );
}

#[test]
fn a_killed_worker_is_shown_stopped_and_r_resumes_it_after_the_typed_name() {
    let app = backed_up_app();
    let bare = Bare::new();
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let cluster = LocalCluster {
        data_dir: datadir.clone(),
        bin_dir: app.cluster().bin_dir().to_path_buf(),
    };
    let _cleanup = Cleanup {
        recoveries: bare.recoveries(),
        cluster: cluster.clone(),
    };
    let console = bare.open(&app, "resume-a");
    let (id, pid) = start_recovery(&app, &bare, &console, &datadir, &prefix);
    // SAFETY: kill(2) of the worker the console started for this test.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    console.wait_for_text(&["stopped at pg_restore: press r to resume"], WAIT);
    console.keys(&["q"]);
    console.wait_for_exit(WAIT);
    drop(console);

    let again = bare.open(&app, "resume-b");
    let screen = again.wait_for_text(&["stopped at pg_restore: press r to resume"], WAIT);
    assert!(
        screen.contains(&id) && screen.contains("✗ pg_restore"),
        "{screen}"
    );
    again.keys(&["r"]);
    again.wait_for_text(
        &["pg_restore was cut off", "Type the database name `app`"],
        WAIT,
    );
    again.type_text(APP_DB);
    again.keys(&["Enter"]);
    again.wait_for_text(&["running headless (pid"], WAIT);
    let done = again.wait_for_text(&["finished", "RTO", "Configuration written"], FINISH);
    assert!(!done.contains('⟳') && !done.contains('✗'), "{done}");
    assert_eq!(
        app.data_dump_of(&cluster.url(APP_DB)),
        app.data_dump(),
        "the recovered database differs from the source"
    );
    let book: serde_json::Value = serde_json::from_slice(
        &std::fs::read(bare.recoveries().join(format!("{id}.json"))).unwrap(),
    )
    .unwrap();
    let restore = book["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "pg_restore")
        .unwrap();
    assert_eq!(restore["attempts"], 2, "{book:#}");
}
