//! Throwaway clusters are private, and a killed drill or restore leaves nothing running and
//! nothing decrypted (issue 12, points 4 and 8), on the real parts: the built binary, a real
//! PostgreSQL (the application's, and the drill's own throwaway cluster), real gpg.
//!
//! - During a drill, its health command (so the attempt lands while the drill's cluster runs,
//!   by construction) tries, as the `nobody` user, the drill's database URL (the socket) and
//!   TCP 127.0.0.1 on the cluster's port: both fail; lifeboat's own user gets in. (Needs
//!   root for `runuser`, as the CI container has; without it the test says so and fails.)
//! - A drill SIGKILLed in its restore phase (pg_restore running) and one killed while it
//!   decrypts (its private GNUPGHOME exists), and a restore killed while pg_restore runs: only
//!   the lifeboat process is killed, as the OOM killer would. Within a few seconds no postgres,
//!   pg_restore, psql or gpg it started runs; no file left on disk holds the decrypted dump;
//!   the next `lifeboat status` removes the cluster directory, the scratch directory and the
//!   GNUPGHOME (stopping its gpg-agent), and says so.
//!
//! Processes are told apart by a tag in their environment (`LIFEBOAT_TEST_RUN_TAG`), which
//! everything the killed lifeboat started inherits; directories by the owner tag lifeboat
//! writes in them.

mod common;

use common::app::{random_token, AppOptions, TestApp};
use common::procs::{self, Tagged};
use common::{describe, text};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const TAG_VAR: &str = "LIFEBOAT_TEST_RUN_TAG";
/// A kill point a run does not reach within this long is a broken test, not a slow machine.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long the kernel and the dying processes get to finish off a killed run's children.
const DIE_LIMIT: Duration = Duration::from_secs(20);
/// What lifeboat started and must not outlive it (gpg-agent is a daemon: the next run stops it).
const CHILD_PROGRAMS: [&str; 6] = ["postgres", "pg_restore", "psql", "gpg", "pg_dump", "initdb"];

fn scratch_parent(app: &TestApp) -> PathBuf {
    app.data_dir().join("scratch")
}

/// Whether lifeboat's owner tag in `dir` names `pid`.
fn tagged_for(dir: &Path, pid: u32) -> bool {
    std::fs::read_to_string(dir.join("lifeboat.owner"))
        .map(|t| t.split_whitespace().next() == Some(pid.to_string().as_str()))
        .unwrap_or(false)
}

fn dirs_of(parent: &Path, prefix: &str, pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .filter(|d| tagged_for(d, pid))
                .collect()
        })
        .unwrap_or_default()
}

/// The temporary directories throwaway clusters and GNUPGHOMEs go to.
fn tmp_parents() -> Vec<PathBuf> {
    let mut parents = vec![PathBuf::from("/tmp")];
    if !parents.contains(&std::env::temp_dir()) {
        parents.push(std::env::temp_dir());
    }
    parents
}

/// These tests run one at a time: every lifeboat command sweeps the leftovers of dead runs, so
/// a lifeboat of a parallel test could sweep what a killed run left (the moment it is reaped)
/// before the command whose report the test checks.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What one lifeboat run had while it ran, accumulated.
#[derive(Debug, Default)]
struct Seen {
    programs: BTreeSet<String>,
    clusters: BTreeSet<PathBuf>,
    scratch: BTreeSet<PathBuf>,
    gpg_homes: BTreeSet<PathBuf>,
    /// Bytes of unlinked files lifeboat held in its scratch directory (the decrypted dump).
    unlinked_bytes: u64,
}

impl Seen {
    fn look(&mut self, app: &TestApp, tag: &str, pid: u32) {
        for p in procs::tagged(TAG_VAR, tag) {
            self.programs.insert(p.comm);
        }
        for parent in tmp_parents() {
            self.clusters.extend(dirs_of(&parent, "lifeboat-pg-", pid));
            self.gpg_homes.extend(dirs_of(&parent, "lbg", pid));
        }
        let scratch = dirs_of(&scratch_parent(app), "lifeboat-scratch-", pid);
        for dir in &scratch {
            let held: u64 = procs::unlinked_files_held(pid, dir)
                .iter()
                .map(|(_, n)| n)
                .sum();
            self.unlinked_bytes = self.unlinked_bytes.max(held);
        }
        self.scratch.extend(scratch);
    }
}

struct Killed {
    tag: String,
    pid: u32,
    seen: Seen,
    /// Not yet reaped: a zombie still counts as alive, so no other lifeboat on the machine
    /// (other tests run meanwhile) sweeps what it left before the run this test checks.
    zombie: std::process::Child,
}

impl Killed {
    /// Reaps the killed lifeboat: from now on its leftovers are anyone's to sweep.
    fn reap(&mut self) {
        let status = self.zombie.wait().expect("reap the killed lifeboat");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
    }
}

/// Waits until `pid` (our child) has exited, without reaping it.
fn wait_exited_unreaped(pid: u32) {
    // SAFETY: siginfo_t is plain old data; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with WNOWAIT leaves it waitable.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0, "waitid: {}", std::io::Error::last_os_error());
}

/// Runs `lifeboat ARGS` tagged, and SIGKILLs the lifeboat process alone once `when` holds.
fn kill_when(app: &TestApp, args: &[&str], when: &dyn Fn(&Seen) -> bool) -> Killed {
    let tag = random_token(8);
    let mut child = app
        .command(args)
        .env(TAG_VAR, &tag)
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn lifeboat {args:?}: {e}"));
    let pid = child.id();
    let deadline = Instant::now() + RUN_LIMIT;
    let mut seen = Seen::default();
    loop {
        if let Some(status) = child.try_wait().expect("poll lifeboat") {
            panic!("lifeboat {args:?} ended ({status}) before the kill point: {seen:?}");
        }
        seen.look(app, &tag, pid);
        if when(&seen) {
            // SAFETY: kill(2) on the child we spawned and have not waited for.
            let rc = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            assert_eq!(rc, 0, "SIGKILL lifeboat {pid}");
            wait_exited_unreaped(pid);
            return Killed {
                tag,
                pid,
                seen,
                zombie: child,
            };
        }
        assert!(
            Instant::now() < deadline,
            "lifeboat {args:?} never reached the kill point in {RUN_LIMIT:?}: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn still_running(tag: &str, programs: &[&str]) -> Vec<Tagged> {
    procs::tagged(TAG_VAR, tag)
        .into_iter()
        .filter(|p| programs.contains(&p.comm.as_str()))
        .collect()
}

/// Waits (bounded) until none of `programs` tagged `tag` runs; panics naming the survivors.
fn assert_none_running(tag: &str, programs: &[&str], what: &str) {
    let deadline = Instant::now() + DIE_LIMIT;
    loop {
        let left = still_running(tag, programs);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still running {DIE_LIMIT:?} after lifeboat was killed: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Files under `dir` whose bytes begin like a pg_dump custom-format archive.
fn plaintext_dumps_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => pending.push(path),
                Ok(m) if m.is_file() => {
                    let head = std::fs::read(&path).unwrap_or_default();
                    if head.starts_with(b"PGDMP") {
                        found.push(path);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// After a kill: nothing of the run runs, nothing decrypted is on disk, what it left is still
/// there until `lifeboat status` removes it and says so; then nothing is left.
fn assert_cleaned_up_by_the_next_run(app: &TestApp, mut killed: Killed, what: &str) {
    let (pid, tag) = (killed.pid, killed.tag.clone());
    assert_none_running(&tag, &CHILD_PROGRAMS, what);
    let seen = &killed.seen;
    for dir in &seen.scratch {
        let dumps = plaintext_dumps_under(dir);
        assert!(
            dumps.is_empty(),
            "{what}: decrypted dumps on disk: {dumps:?}"
        );
    }
    let kind = |dir: &PathBuf| {
        if seen.clusters.contains(dir) {
            "throwaway PostgreSQL cluster"
        } else if seen.scratch.contains(dir) {
            "scratch directory (restore or drill)"
        } else {
            "private GNUPGHOME"
        }
    };
    let left: Vec<(PathBuf, &str)> = seen
        .clusters
        .iter()
        .chain(&seen.scratch)
        .chain(&seen.gpg_homes)
        .filter(|d| d.exists())
        .map(|d| (d.clone(), kind(d)))
        .collect();
    assert!(
        !left.is_empty(),
        "{what}: the kill left nothing for the next run to find, so the sweep is untested: {seen:?}"
    );

    killed.reap();
    let out: Output = app.lifeboat(&["status"]);
    let stderr = text(&out.stderr);
    for (dir, kind) in &left {
        assert!(
            !dir.exists(),
            "{what}: {} survived `lifeboat status`",
            dir.display()
        );
        let said = format!(
            "lifeboat: removed the {kind} {} left by lifeboat pid {pid}, which was killed",
            dir.display()
        );
        assert!(
            stderr.contains(&said),
            "{what}: `lifeboat status` does not say `{said}`:\n{}",
            describe(&out)
        );
    }
    // The agent of a removed GNUPGHOME is stopped, not only its folder removed.
    assert_none_running(&tag, &["gpg-agent"], what);
    let again = app.lifeboat(&["status"]);
    assert!(
        !text(&again.stderr).contains(&format!("lifeboat pid {pid}, which was killed")),
        "{what}: a second run finds more: {}",
        describe(&again)
    );
}

fn drill_app() -> TestApp {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    app.backup();
    app
}

fn write_drill_config(app: &TestApp, health: Option<&str>) {
    let mut extra = String::from("\n[drill]\nrto_target = \"10m\"\nrpo_target = \"48h\"\n");
    if let Some(cmd) = health {
        extra.push_str(&format!(
            "health = {}\n",
            serde_json::to_string(cmd).expect("json")
        ));
    }
    app.write_raw_config(&format!("{}{extra}", app.config_text()));
}

/// Another local user cannot log in to the drill's cluster, by its socket or over TCP, while
/// lifeboat's own user can.
#[test]
fn another_local_user_cannot_connect_to_the_drills_cluster() {
    let _one_at_a_time = serial();
    let app = drill_app();
    let out_dir = app.root().join("probe");
    std::fs::create_dir(&out_dir).expect("mkdir probe");
    let script = app.root().join("probe.sh");
    let psql = app.pg_program("psql");
    std::fs::write(
        &script,
        format!(
            r#"out='{out}'
psql='{psql}'
url="$LIFEBOAT_DRILL_DATABASE_URL"
port=$(printf '%s' "$url" | sed -n 's/.*[?&]port=\([0-9]*\).*/\1/p')
host=$(printf '%s' "$url" | sed -n 's/.*[?&]host=\([^&]*\).*/\1/p')
host=$(printf '%s' "$host" | sed 's,%2[Ff],/,g')
printf '%s\n%s\n%s\n' "$url" "$host" "$port" > "$out/url"
runuser -u nobody -- "$psql" --version > "$out/nobody-version" 2>&1; echo "exit $?" >> "$out/nobody-version"
runuser -u nobody -- "$psql" -X -A -t -w -d "$url" -c 'SELECT 1' > "$out/nobody-socket" 2>&1; echo "exit $?" >> "$out/nobody-socket"
runuser -u nobody -- "$psql" -X -A -t -w -h 127.0.0.1 -p "$port" -U postgres -d drill -c 'SELECT 1' > "$out/nobody-tcp" 2>&1; echo "exit $?" >> "$out/nobody-tcp"
runuser -u nobody -- "$psql" -X -A -t -w -h "$host" -p "$port" -U postgres -d drill -c 'SELECT 1' > "$out/nobody-socket-path" 2>&1; echo "exit $?" >> "$out/nobody-socket-path"
"$psql" -X -A -t -w -d "$url" -c "SELECT current_setting('listen_addresses') || '|' || count(*) FROM audit_log" > "$out/owner" 2>&1; echo "exit $?" >> "$out/owner"
exit 0
"#,
            out = out_dir.display(),
            psql = psql.display()
        ),
    )
    .expect("write the probe");
    write_drill_config(&app, Some(&format!("sh {}", script.display())));

    let out = app.lifeboat(&["drill", "--json"]);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("drill --json printed no JSON ({e}): {}", describe(&out)));
    assert_eq!(record["passed"], true, "{record:#}\n{}", describe(&out));
    let read = |name: &str| {
        std::fs::read_to_string(out_dir.join(name))
            .unwrap_or_else(|e| panic!("the probe wrote no {name} ({e}): {record:#}"))
    };
    let url = read("url");
    assert!(
        (url.starts_with("postgresql://postgres@/drill?host=/")
            || url.starts_with("postgresql://postgres@/drill?host=%2F"))
            && url.contains("&port=")
            && url.lines().nth(1).is_some_and(|host| host.starts_with('/')),
        "the drill's database is reached through its socket: {url}"
    );
    assert!(
        read("nobody-version").ends_with("exit 0\n"),
        "nobody can run psql at all, so its failures below are refusals: {}",
        read("nobody-version")
    );
    let socket = read("nobody-socket");
    assert!(
        !socket.ends_with("exit 0\n") && socket.contains("Permission denied"),
        "nobody connected through the drill's socket: {socket}"
    );
    let socket_path = read("nobody-socket-path");
    assert!(
        !socket_path.ends_with("exit 0\n") && socket_path.contains("Permission denied"),
        "nobody connected through the socket's path: {socket_path}"
    );
    let tcp = read("nobody-tcp");
    assert!(
        !tcp.ends_with("exit 0\n") && tcp.contains("127.0.0.1"),
        "nobody connected over TCP: {tcp}"
    );
    let owner = read("owner");
    assert!(
        owner.starts_with("|") && owner.ends_with("exit 0\n"),
        "lifeboat's own user reaches the restored data, and nothing listens on TCP: {owner}"
    );
}

/// SIGKILL while pg_restore fills the drill's cluster.
#[test]
fn a_drill_killed_while_restoring_leaves_nothing_running_or_decrypted() {
    let _one_at_a_time = serial();
    let app = drill_app();
    write_drill_config(&app, None);
    let killed = kill_when(&app, &["drill", "--json"], &|seen| {
        seen.programs.contains("pg_restore") && !seen.clusters.is_empty()
    });
    assert!(
        killed.seen.unlinked_bytes > 0,
        "the decrypted dump was held as an unlinked file: {:?}",
        killed.seen
    );
    assert_cleaned_up_by_the_next_run(&app, killed, "drill killed in pg_restore");
}

/// SIGKILL while the drill decrypts in its private GNUPGHOME.
#[test]
fn a_drill_killed_while_decrypting_leaves_its_gnupghome_to_the_next_run() {
    let _one_at_a_time = serial();
    let app = drill_app();
    write_drill_config(&app, None);
    let killed = kill_when(&app, &["drill", "--json"], &|seen| {
        !seen.gpg_homes.is_empty()
    });
    assert_cleaned_up_by_the_next_run(&app, killed, "drill killed while decrypting");
}

/// SIGKILL while a real restore's pg_restore runs.
#[test]
fn a_restore_killed_in_pg_restore_leaves_nothing_running_or_decrypted() {
    let _one_at_a_time = serial();
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let set = app.backup();
    let target = format!(
        "postgresql://postgres@127.0.0.1:{}/app_killed_restore",
        app.cluster().port()
    );
    let killed = kill_when(
        &app,
        &[
            "restore",
            &set,
            "--yes",
            "--no-safety-backup",
            "--target-url",
            &target,
        ],
        &|seen| seen.programs.contains("pg_restore"),
    );
    assert!(
        killed.seen.unlinked_bytes > 0,
        "the decrypted dump was held as an unlinked file: {:?}",
        killed.seen
    );
    assert_cleaned_up_by_the_next_run(&app, killed, "restore killed in pg_restore");
}
