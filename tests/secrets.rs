//! Secrets stay secret through a whole backup, restore and drill (issue 7).
//!
//! The database role needs a password for real (scram-sha-256 in `pg_hba.conf`), and the
//! password is only in the configured URL, percent-encoded; encryption is passphrase mode
//! (`passphrase_file`); pre- and post-restore hooks, a restore health command, a drill health
//! command and an `on_drill` notification hook are configured. While `lifeboat backup`,
//! `lifeboat restore --yes` (with its safety backup) and `lifeboat drill` (into a scratch
//! database on the same password-protected server) run, a `/proc` watch
//! (`common::procs::TreeWatch`) reads the argv of every process and the environment of lifeboat
//! and all its descendants, over and over. Asserted:
//!
//! - no passphrase and no password in any argv, nor in any environment but those of `psql`,
//!   `pg_dump` and `pg_restore` (libpq's `PGPASSWORD` is how they get it), lifeboat's own
//!   included (the test passes neither in the environment);
//! - every hook recorded its environment, and it holds neither; the notification's payload
//!   neither;
//! - nor does anything lifeboat printed or wrote: the log, the journal, the manifests, the
//!   drill record, every file in the repositories and in its data and state directories.
//!
//! The test process is a child subreaper, so gpg-agent, which gpg starts through a double fork,
//! is still in the watched tree. It cannot pass vacuously: each hook waits until the watch has
//! seen it (the watch creates a file the hook waits for), the watch must have seen gpg in every
//! command, and it must have found the password
//! in the environment of at least one exempt libpq program (so it can see a secret in an
//! environment, and the password really went that way). Budget: ~25 s in a debug build.

mod common;

use common::{describe, text};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::app::{random_token, AppOptions, TestApp, APP_DB};
use common::procs::{adopt_orphans, Samples, TreeWatch};

/// Programs that receive the database password in their environment by design.
const LIBPQ_PROGRAMS: &[&str] = &["psql", "pg_dump", "pg_restore"];
/// The role lifeboat connects as; the test's own psql stays `postgres` (trust).
const ROLE: &str = "lifeboat_operator";
/// A hook waits this many 50 ms rounds for the watch to see it before giving up.
const HOOK_WAIT_ROUNDS: u32 = 600;

fn assert_exit(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {}",
        describe(out)
    );
}

/// Fails naming `what` (never printing the secret) if any secret occurs in `haystack`.
fn assert_no_secret(what: &str, haystack: &[u8], secrets: &[String]) {
    for (i, secret) in secrets.iter().enumerate() {
        assert!(
            !haystack
                .windows(secret.len())
                .any(|w| w == secret.as_bytes()),
            "secret #{i} ({}) appears in {what}",
            ["the passphrase", "the database password"][i.min(1)]
        );
    }
}

/// `postgresql://ROLE:<password, percent-encoded>@host:port/app` for a role that must give it:
/// the role is created with the password and `pg_hba.conf` asks it for scram-sha-256 over TCP.
fn password_protected_url(app: &TestApp, password: &str) -> String {
    app.psql(&format!(
        "CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{}'",
        password.replace('\'', "''")
    ));
    let hba = app.cluster().data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    // First match wins: this line goes before the cluster's trust rules.
    std::fs::write(
        &hba,
        format!("host all {ROLE} 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .expect("write pg_hba.conf");
    app.psql("SELECT pg_reload_conf()");
    let encoded = percent_encoded(password);
    let url = format!(
        "postgresql://{ROLE}:{encoded}@127.0.0.1:{}/{APP_DB}",
        app.cluster().port()
    );

    // The password is really needed: without it the server says no, with it yes.
    let psql = |password: Option<&str>| {
        let mut cmd = Command::new(app.pg_program("psql"));
        cmd.args([
            "-X",
            "-A",
            "-t",
            "--no-password",
            "-c",
            "SELECT current_user",
        ])
        .arg(format!(
            "--dbname=postgresql://{ROLE}@127.0.0.1:{}/{APP_DB}",
            app.cluster().port()
        ))
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .stdin(Stdio::null());
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        cmd.output().expect("run psql")
    };
    let without = psql(None);
    assert!(
        !without.status.success(),
        "{ROLE} connected without a password, so the test would not exercise one: {}",
        describe(&without)
    );
    let with = psql(Some(password));
    assert_exit("psql with the role's password", &with, 0);
    url
}

/// `text` with every byte but ASCII letters, digits and `-` percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A hook that records its environment (and stdin, for notifications) in `dir`, then waits
/// until the watch has seen it (the watch creates `<name>.seen`), so it cannot finish unseen.
fn hook(dir: &Path, name: &str, read_stdin: bool) -> String {
    let d = dir.display();
    let stdin = if read_stdin {
        format!("cat > '{d}/{name}.stdin'; ")
    } else {
        String::new()
    };
    format!(
        "{stdin}env > '{d}/{name}.env'; n=0; while [ ! -e '{d}/{name}.seen' ] && \
         [ $n -lt {HOOK_WAIT_ROUNDS} ]; do sleep 0.05; n=$((n+1)); done; : {}",
        marker(name)
    )
}

fn marker(name: &str) -> String {
    format!("lifeboat-secrets-hook-{name}")
}

fn toml(text: &str) -> String {
    serde_json::to_string(text).expect("a string renders as JSON, which TOML accepts")
}

/// Runs `lifeboat ARGS` under a `/proc` watch; returns its output and what the watch saw.
fn watched(
    app: &TestApp,
    args: &[&str],
    secrets: &[String],
    hooks: &[&str],
    dir: &Path,
) -> (Output, Samples) {
    watched_with_env(app, args, secrets, hooks, dir, &[])
}

/// [`watched`], with `env` added to lifeboat's environment.
fn watched_with_env(
    app: &TestApp,
    args: &[&str],
    secrets: &[String],
    hooks: &[&str],
    dir: &Path,
    env: &[(&str, &Path)],
) -> (Output, Samples) {
    let on_sight = hooks
        .iter()
        .map(|h| (marker(h), dir.join(format!("{h}.seen"))))
        .collect();
    // This process's tree: lifeboat, its children, and (see `adopt_orphans`) gpg.
    let watch = TreeWatch::start(
        std::process::id(),
        secrets.to_vec(),
        LIBPQ_PROGRAMS,
        on_sight,
    );
    let child = app
        .command(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn lifeboat {args:?}: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for lifeboat {args:?}: {e}"));
    let samples = watch.finish();
    eprintln!("lifeboat {args:?}: {}", samples.summary());
    (out, samples)
}

fn all_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk a directory lifeboat wrote"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn no_secret_in_any_argv_environment_hook_log_or_file_through_backup_restore_and_drill() {
    let mut app = TestApp::new(AppOptions::default());
    let token = random_token(16);
    // Characters a URL must percent-encode, so the decoding path runs too.
    let password = format!("pw-{token}@/:?x");
    let url = password_protected_url(&app, &password);
    let passphrase = app.passphrase().expect("passphrase mode").to_string();
    // The token is in the password both as configured (encoded) and as used (decoded).
    let secrets = vec![passphrase, token];
    let hooks_dir = app.root().join("hooks");
    std::fs::create_dir(&hooks_dir).expect("create the hooks directory");
    app.set_database_url(&url);
    let mut config = app.config_text();
    config.push_str(&format!(
        "\n[restore]\npre_restore = [{}]\npost_restore = [{}]\nhealth = {}\njobs = 2\n",
        toml(&hook(&hooks_dir, "pre-restore", false)),
        toml(&hook(&hooks_dir, "post-restore", false)),
        toml(&hook(&hooks_dir, "restore-health", false)),
    ));
    config.push_str(&format!(
        "\n[drill]\nserver_url = {}\nhealth = {}\n\n[[drill.check]]\nname = \"users\"\n\
         sql = 'SELECT count(*) FROM \"User\"'\nexpect = \"2000\"\n",
        toml(&url),
        toml(&hook(&hooks_dir, "drill-health", false)),
    ));
    config.push_str(&format!(
        "\n[notify]\non_drill = [{}]\n",
        toml(&hook(&hooks_dir, "notify-drill", true))
    ));
    app.write_raw_config(&config);
    // From here on, everything this test process starts is lifeboat or started by it.
    adopt_orphans();

    let mut runs: Vec<(&str, Output, Samples)> = Vec::new();
    let (out, samples) = watched(&app, &["backup", "--json"], &secrets, &[], &hooks_dir);
    assert_exit("lifeboat backup", &out, 0);
    runs.push(("backup", out, samples));
    let restore_hooks = ["pre-restore", "post-restore", "restore-health"];
    let (out, samples) = watched(
        &app,
        &["restore", "latest", "--yes", "--json"],
        &secrets,
        &restore_hooks,
        &hooks_dir,
    );
    assert_exit("lifeboat restore latest --yes", &out, 0);
    runs.push(("restore", out, samples));
    let drill_hooks = ["drill-health", "notify-drill"];
    let (out, samples) = watched(
        &app,
        &["drill", "--json"],
        &secrets,
        &drill_hooks,
        &hooks_dir,
    );
    assert_exit("lifeboat drill", &out, 0);
    runs.push(("drill", out, samples));

    for (what, out, samples) in &runs {
        assert!(
            samples.leaks.is_empty(),
            "during lifeboat {what}, a secret was where it must never be: {:#?}",
            samples.leaks
        );
        assert_no_secret(&format!("lifeboat {what}'s stdout"), &out.stdout, &secrets);
        assert_no_secret(&format!("lifeboat {what}'s stderr"), &out.stderr, &secrets);
        // The watch saw lifeboat and its children, or it proved nothing.
        assert!(
            samples.saw("lifeboat") && samples.tree.len() > 3,
            "the watch barely saw lifeboat {what}: {}",
            samples.summary()
        );
        assert!(
            samples.saw("psql") || samples.saw("pg_dump") || samples.saw("pg_restore"),
            "the watch never saw a libpq program during lifeboat {what}: {}",
            samples.summary()
        );
    }
    for (what, _, samples) in &runs {
        assert!(
            samples.saw("gpg"),
            "the watch never saw gpg during lifeboat {what}, which encrypts or decrypts: {}",
            samples.summary()
        );
    }
    let exempt: Vec<&String> = runs
        .iter()
        .flat_map(|(_, _, s)| &s.exempt_holding_secret)
        .collect();
    eprintln!("password seen where libpq expects it: {exempt:?}");
    assert!(
        exempt.iter().any(|e| e.starts_with("PGPASSWORD ")),
        "the watch never found the password in a libpq program's PGPASSWORD, so it cannot be \
         trusted to find one elsewhere"
    );

    // Every hook ran, was seen, and got neither secret.
    for name in restore_hooks.iter().chain(&drill_hooks) {
        assert!(
            hooks_dir.join(format!("{name}.seen")).exists(),
            "the watch never saw the {name} hook"
        );
        let env = std::fs::read(hooks_dir.join(format!("{name}.env")))
            .unwrap_or_else(|e| panic!("the {name} hook left no environment record: {e}"));
        assert_no_secret(&format!("the {name} hook's environment"), &env, &secrets);
    }
    let pre = text(&std::fs::read(hooks_dir.join("pre-restore.env")).expect("read"));
    assert!(
        pre.contains("LIFEBOAT_SET=") && pre.contains("LIFEBOAT_TARGET="),
        "the pre-restore hook's environment is not the one lifeboat gives hooks:\n{pre}"
    );
    let drill_env = text(&std::fs::read(hooks_dir.join("drill-health.env")).expect("read"));
    assert!(
        drill_env.contains("LIFEBOAT_DRILL_DATABASE_URL="),
        "the drill health command's environment lacks its database URL:\n{drill_env}"
    );
    let payload = std::fs::read(hooks_dir.join("notify-drill.stdin")).expect("read");
    assert!(
        text(&payload).contains("\"drill\""),
        "the notification payload is not a drill event: {}",
        text(&payload)
    );
    assert_no_secret("the on_drill notification's payload", &payload, &secrets);

    // Nothing lifeboat wrote holds either: logs, journal, manifests, drill records, scratch.
    let log = std::fs::read(app.log_path()).expect("state/logs/lifeboat.log exists");
    assert!(!log.is_empty(), "the log is empty");
    let journal = std::fs::read(app.journal_path()).expect("data/journal.jsonl exists");
    assert_no_secret("the log", &log, &secrets);
    assert_no_secret("the journal", &journal, &secrets);
    let mut manifests = 0;
    let mut drill_records = 0;
    for root in [
        app.repo_dir(),
        app.secrets_repo_dir(),
        app.data_dir(),
        app.state_dir(),
    ] {
        for file in all_files(&root) {
            let name = file.to_string_lossy().into_owned();
            manifests += usize::from(name.ends_with("manifest.json"));
            drill_records += usize::from(name.contains("/drills/") && name.ends_with(".json"));
            let bytes = std::fs::read(&file).expect("read a file lifeboat wrote");
            assert_no_secret(&name, &bytes, &secrets);
        }
    }
    // The backup, the restore's safety backup (data and secrets repositories each).
    assert!(manifests >= 4, "only {manifests} manifests were checked");
    assert!(drill_records >= 1, "no drill record was checked");
}

/// Issue 12, point 7: every way libpq accepts a password keeps it out of every argv, the log
/// and the journal. The role's password holds `'`, `\`, `%` and a space; the database's name
/// is not ASCII and holds a quote and a space. For the password in URL userinfo, in a URL query
/// parameter, in a keyword/value string with spaces around `=` and quoted values, and in a
/// service file (`service=` with `PGSERVICEFILE`), `lifeboat backup` and `restore --dry-run`
/// succeed under the `/proc` watch, and the backup dumped that database.
#[test]
fn every_way_of_writing_the_password_stays_out_of_argv_log_and_journal() {
    let mut app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let token = random_token(16);
    let password = format!("pw-{token}' \\ % x");
    password_protected_url(&app, &password);
    let db = "café d'app";
    app.psql_db(
        "postgres",
        &format!("CREATE DATABASE \"{db}\" TEMPLATE {APP_DB}"),
    );
    let port = app.cluster().port();
    let quoted = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let service_file = app.root().join("pg_service.conf");
    std::fs::write(
        &service_file,
        format!(
            "[lifeboat_test]\nhost=127.0.0.1\nport={port}\nuser={ROLE}\ndbname={db}\npassword={password}\n"
        ),
    )
    .expect("write pg_service.conf");
    let ways = [
        (
            "URL userinfo",
            format!(
                "postgresql://{ROLE}:{}@127.0.0.1:{port}/{}",
                percent_encoded(&password),
                percent_encoded(db)
            ),
            vec![],
        ),
        (
            "URL query parameter",
            format!(
                "postgresql://{ROLE}@127.0.0.1:{port}/{}?sslmode=disable&password={}",
                percent_encoded(db),
                percent_encoded(&password)
            ),
            vec![],
        ),
        (
            "keyword/value string",
            format!(
                "host = 127.0.0.1  port={port}\tuser ={ROLE} password = {} dbname= {}",
                quoted(&password),
                quoted(db)
            ),
            vec![],
        ),
        (
            "service file",
            "service=lifeboat_test".to_string(),
            vec![("PGSERVICEFILE", service_file.as_path())],
        ),
    ];
    let passphrase = app.passphrase().expect("passphrase mode").to_string();
    let secrets = vec![passphrase, token];
    let dir = app.root().to_path_buf();
    adopt_orphans();
    let mut saw_pgpassword = false;
    for (way, url, env) in &ways {
        app.set_database_url(url);
        for args in [
            &["backup", "--json"][..],
            &["restore", "latest", "--dry-run", "--json"][..],
        ] {
            let (out, samples) = watched_with_env(&app, args, &secrets, &[], &dir, env);
            assert_exit(
                &format!("lifeboat {args:?} with the password in a {way}"),
                &out,
                0,
            );
            assert!(
                samples.leaks.is_empty(),
                "with the password in a {way}, lifeboat {args:?} put a secret where it must \
                 never be: {:#?}",
                samples.leaks
            );
            // The dry run's one psql session can end between two sweeps; the backup's
            // pg_dump cannot.
            assert!(
                args[0] != "backup" || samples.saw("pg_dump"),
                "the watch never saw pg_dump during lifeboat {args:?} ({way}): {}",
                samples.summary()
            );
            // It reached the target with the password: the plan says what the target holds.
            assert!(
                args[0] != "restore" || text(&out.stdout).contains("exists with"),
                "the dry run ({way}) did not look into the target: {}",
                text(&out.stdout)
            );
            assert_no_secret(
                &format!("lifeboat {args:?}'s stdout ({way})"),
                &out.stdout,
                &secrets,
            );
            assert_no_secret(
                &format!("lifeboat {args:?}'s stderr ({way})"),
                &out.stderr,
                &secrets,
            );
            saw_pgpassword |= samples
                .exempt_holding_secret
                .iter()
                .any(|e| e.starts_with("PGPASSWORD "));
            if args[0] == "backup" {
                let report: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("backup --json prints JSON");
                let id = report["set_id"].as_str().expect("set_id");
                let manifest = std::fs::read_to_string(app.set_dir_local(id).join("manifest.json"))
                    .expect("read the manifest");
                assert!(
                    manifest.contains(&format!("\"database\": \"{db}\""))
                        || manifest.contains(&format!("\"database\":\"{db}\"")),
                    "the backup ({way}) did not dump {db}: {manifest}"
                );
            }
        }
    }
    assert!(
        saw_pgpassword,
        "the watch never found the password in a libpq program's PGPASSWORD, so it cannot be \
         trusted to find one elsewhere"
    );
    let log = std::fs::read(app.log_path()).expect("state/logs/lifeboat.log exists");
    let journal = std::fs::read(app.journal_path()).expect("data/journal.jsonl exists");
    assert_no_secret("the log", &log, &secrets);
    assert_no_secret("the journal", &journal, &secrets);
    for file in all_files(&app.repo_dir())
        .into_iter()
        .chain(all_files(&app.data_dir()))
    {
        let bytes = std::fs::read(&file).expect("read a file lifeboat wrote");
        assert_no_secret(&file.display().to_string(), &bytes, &secrets);
    }
}
