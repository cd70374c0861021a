//! Crash sweep (issue 7): `lifeboat backup` is SIGKILLed at points spread over its run, against
//! a local repository (passphrase encryption) and an `s3s-fs` one (recipients), both with a
//! local secrets repository. After every kill:
//!
//! - `lifeboat list` shows only complete sets, and each passes `verify`; the killed set is
//!   absent or incomplete in `inventory`, complete only if its manifest was written before the
//!   kill (and then it verifies like the others);
//! - `status` exits non-zero: the newest run failed, "interrupted", naming the killed pid
//!   (unless the kill came after the run recorded its end, which then stands);
//! - the next `backup` warns that it took over the dead run's lock (naming the pid) and
//!   succeeds; its set verifies and restores (below); `status` is healthy again;
//! - nothing of the killed run is left once the next backup is done: no file in the spool
//!   (S3), no partial object in a `.tmp` folder (the test first ages them past the day the next
//!   backup waits, see src/jobs/leftovers.rs), no gpg-agent of its private GNUPGHOME.
//!
//! Kill points are chosen by bytes written, not by sleeps. An unfaulted backup is watched first
//! to learn how many bytes a run writes: the repository directory and the secrets repository,
//! and for S3 the spool plus what `s3s-fs` wrote (its /proc io counter: parts and objects
//! alike, monotonic, unlike the size of its directory). Byte kill `i` of `n` fires once a run
//! has written `i/(n+1)` of that, polled every 2 ms. Phase points come on top: right after the
//! run is recorded (lock taken, nothing written); after the secrets manifest (every data object
//! written, no data checksums yet); after the data `checksums.sha256` (no manifest yet); after
//! the data `manifest.json` (the run not yet recorded as finished). With S3 these are exact: the
//! backup talks to s3s-fs through a proxy that holds the next request (or the manifest's answer)
//! until the kill. With a local repository the test can only react to the file's arrival
//! (inotify); the windows are one small fsynced write long, so on a busy machine the kill often
//! lands later. Such an attempt is still a checked kill, and the point is tried again, up to
//! twice (five times in the full variant); the summary says which windows were caught. Every
//! other kill hits only the lifeboat process, as the OOM killer would (pg_dump, psql and gpg
//! are orphaned), the others its whole process group. Each kill's landing (bytes, time,
//! objects present, leftovers) is printed: run with `--nocapture` to see the spread.
//!
//! After the next backup its set is always verified; after kills 1, 8 and 15 it gets
//! `restore --dry-run`, after kills 4, 11 and 18 a real `restore --yes --no-safety-backup` into
//! the application database (rows compared with a dump taken before that backup; a deleted file
//! comes back byte-identical); in the full variant a real restore after every kill. The
//! repositories are trimmed to their newest few set folders between kills, so every kill costs
//! about the same.
//!
//! A third test kills `backup --resume` uploading a set spooled while s3s-fs was down (twice
//! mid-upload, once before the manifest, once after it): the repository lists only sets that
//! verify, the set keeps waiting in the spool, and a last resume uploads it whole.
//!
//! CI: 1 + 16 byte + 3 phase points for each repository kind, about 10 MiB of data.
//! `LIFEBOAT_FULL=1`: 1 + 40 + 3 points, about 34 MiB, a real restore after every kill.
//!
//! ```text
//! cargo test --test crash_sweep -- --nocapture
//! LIFEBOAT_FULL=1 cargo test --test crash_sweep -- --nocapture
//! ```

mod common;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::app::{AppOptions, Enc, RepoKind, TestApp, S3_PREFIX};
use common::{describe, text};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
/// `backup` finished the set locally but could not upload it.
use lifeboat::jobs::exit_code::SPOOLED as EXIT_SPOOLED;
/// Between two looks at the bytes written (and at the journal, a set folder).
const POLL: Duration = Duration::from_millis(2);
/// A kill point a run does not reach within this long is a broken test, not a slow machine.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// How old the test makes the partial objects a kill left in a local repository, so the next
/// backup may remove them (it leaves alone those younger than a day).
const AGED: Duration = Duration::from_secs(2 * 24 * 3600);
/// Set folders (complete or not) left in a repository between iterations.
const KEEP_SETS: usize = 4;

fn full() -> bool {
    std::env::var("LIFEBOAT_FULL").is_ok_and(|v| v == "1")
}

/// (byte points, bulk files, bytes each, attempts at a phase point).
fn scale() -> (u64, usize, u64, usize) {
    if full() {
        (40, 4, 8 * MIB, 5)
    } else {
        (16, 4, 2 * MIB, 2)
    }
}

/// What follows kill number `index` once the next backup is done: a real restore of its set,
/// a dry run, or (in CI, to stay quick) neither; `verify` always.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Restore {
    Real,
    DryRun,
    None,
}

fn restore_after(index: usize) -> Restore {
    match index % 7 {
        _ if full() => Restore::Real,
        3 => Restore::Real,
        0 => Restore::DryRun,
        _ => Restore::None,
    }
}

// --- looking at the disk ------------------------------------------------------------------------

/// Every regular file under `root` with its size, paths relative to `root`, sorted.
fn files_under(root: &Path) -> Vec<(String, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(m) if m.is_dir() => walk(root, &path, out),
                Ok(m) => {
                    let rel = path.strip_prefix(root).unwrap_or(&path);
                    out.push((rel.display().to_string(), m.len()));
                }
                Err(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn bytes_under(root: &Path) -> u64 {
    files_under(root).iter().map(|(_, size)| size).sum()
}

/// File names in `dir`, sorted and joined (for the landing report).
fn names_in(dir: &Path) -> String {
    let names: Vec<String> = files_under(dir).into_iter().map(|(name, _)| name).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// `wchar` of /proc/<pid>/io: every byte the process wrote, ever.
fn bytes_written_by(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/io: {e}"));
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no wchar in /proc/{pid}/io:\n{io}"))
}

/// An inotify watch on one directory: names created in it or renamed into it.
struct DirWatch {
    fd: OwnedFd,
}

impl DirWatch {
    /// None when inotify is not available (e.g. the user's instances are used up).
    fn new(dir: &Path) -> Option<DirWatch> {
        // SAFETY: plain syscalls; the descriptor is owned right away.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            eprintln!(
                "inotify_init1: {}; polling instead",
                std::io::Error::last_os_error()
            );
            return None;
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path = CString::new(dir.as_os_str().as_bytes()).expect("no NUL in test paths");
        // SAFETY: a valid descriptor and a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(
                fd.as_raw_fd(),
                path.as_ptr(),
                libc::IN_CREATE | libc::IN_MOVED_TO,
            )
        };
        (wd >= 0).then_some(DirWatch { fd })
    }

    /// Names that arrived, waiting up to `wait` for the first.
    fn names(&self, wait: Duration) -> Vec<String> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
        let mut buf = [0u8; 8192];
        // SAFETY: reading into a buffer we own, within its length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let n = usize::try_from(n).unwrap_or(0);
        let mut names = Vec::new();
        let mut at = 0;
        // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
        while at + 16 <= n {
            let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().expect("4 bytes"));
            let end = (at + 16 + len as usize).min(n);
            let name = buf[at + 16..end]
                .split(|b| *b == 0)
                .next()
                .unwrap_or_default();
            names.push(String::from_utf8_lossy(name).into_owned());
            at = end;
        }
        names
    }
}

/// What the proxy holds back once it sees the armed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// The request itself: the object is never written.
    Request,
    /// The answer: the object is written, the backup never hears so.
    Response,
}

/// A TCP proxy in front of s3s-fs that forwards both ways, except that once armed with the
/// start of a request line (`PUT /<bucket>/<key>`) it holds that request or its response. The
/// backup then waits there for certain, so a kill lands exactly between two writes, with no
/// reaction time involved.
struct HoldingProxy {
    port: u16,
    armed: Arc<Mutex<Option<(String, Hold)>>>,
    held: Arc<AtomicBool>,
}

impl HoldingProxy {
    fn start(upstream: u16) -> HoldingProxy {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy's listener");
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = HoldingProxy {
            port,
            armed: Arc::default(),
            held: Arc::default(),
        };
        let (armed, held) = (proxy.armed.clone(), proxy.held.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
                    continue;
                };
                let (armed, held) = (armed.clone(), held.clone());
                std::thread::spawn(move || forward(client, server, &armed, held));
            }
        });
        proxy
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn arm(&self, request_line: String, hold: Hold) {
        self.held.store(false, Ordering::SeqCst);
        *self.armed.lock().expect("proxy state") = Some((request_line, hold));
    }

    fn disarm(&self) {
        *self.armed.lock().expect("proxy state") = None;
    }

    /// The armed request (or its answer) is being held.
    fn holds(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

/// Copies client -> server here and server -> client on a thread, holding what `armed` says
/// (the held side is then only drained until the connection closes).
fn forward(
    mut client: TcpStream,
    mut server: TcpStream,
    armed: &Mutex<Option<(String, Hold)>>,
    held: Arc<AtomicBool>,
) {
    let (Ok(mut client_w), Ok(mut server_r)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let hold_answers = Arc::new(AtomicBool::new(false));
    let (hold, answered) = (hold_answers.clone(), held.clone());
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_r.read(&mut buf) {
            if hold.load(Ordering::SeqCst) {
                // s3s-fs answered: the object is in place.
                answered.store(true, Ordering::SeqCst);
            } else if client_w.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = client_w.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut holding = false;
    while let Ok(n @ 1..) = client.read(&mut buf) {
        if !holding && !hold_answers.load(Ordering::SeqCst) {
            let armed = armed.lock().expect("proxy state").clone();
            if let Some((line, how)) = armed {
                // Only headers could hold the request line; bodies are the set's objects.
                if buf[..n].windows(line.len()).any(|w| w == line.as_bytes()) {
                    match how {
                        Hold::Request => holding = true,
                        Hold::Response => hold_answers.store(true, Ordering::SeqCst),
                    }
                }
            }
        }
        if holding {
            held.store(true, Ordering::SeqCst);
        } else if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
}

/// gpg-agents started for this app's lifeboat runs (their environment names its data
/// directory), with their `--homedir`; the test keyring's own agent is not one of them.
fn agents_of(app: &TestApp) -> Vec<(u32, String)> {
    let marker = format!("LIFEBOAT_DATA_DIR={}", app.data_dir().display());
    let keyring = app.gpg_home().map(|g| g.path().display().to_string());
    let mut agents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim() != "gpg-agent" {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if !environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let home = args
            .iter()
            .position(|a| a == "--homedir")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_default();
        if Some(&home) != keyring.as_ref() {
            agents.push((pid, home));
        }
    }
    agents
}

// --- kill points --------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Point {
    /// The run is in the journal (so it holds the lock) and has written nothing yet.
    Recorded,
    /// The run has written this many bytes.
    Bytes(u64),
    /// `name` has just landed in the set's folder (the secrets repository's, or the data's).
    Lands { secrets: bool, name: &'static str },
}

const SECRETS_MANIFEST: Point = Point::Lands {
    secrets: true,
    name: "manifest.json",
};
const CHECKSUMS: Point = Point::Lands {
    secrets: false,
    name: "checksums.sha256",
};
const MANIFEST: Point = Point::Lands {
    secrets: false,
    name: "manifest.json",
};

impl Point {
    fn label(&self, total: u64) -> String {
        match self {
            Point::Recorded => "run recorded".into(),
            Point::Bytes(b) => format!("{} ({}%)", mib(*b), b * 100 / total.max(1)),
            Point::Lands { secrets, name } => format!(
                "{name} in the {} repository",
                if *secrets { "secrets" } else { "data" }
            ),
        }
    }
}

/// Where one kill landed.
struct Killed {
    pid: u32,
    /// The whole process group was killed, not only lifeboat.
    whole_group: bool,
    set_id: String,
    landed_bytes: u64,
    after: Duration,
    /// The run had recorded its end in the journal (the kill came in its last instants).
    finished: bool,
    /// The window the point aims at was hit (see `Sweep::in_window`).
    in_window: bool,
}

struct Sweep {
    app: TestApp,
    kind: &'static str,
    /// Between the backups and s3s-fs (S3 only).
    proxy: Option<HoldingProxy>,
    /// Complete sets that passed `verify` already.
    verified: BTreeSet<String>,
}

impl Sweep {
    fn new(repo: RepoKind, bulk_files: usize, bulk_bytes: u64) -> Sweep {
        let app = TestApp::new(AppOptions {
            repo,
            encryption: match repo {
                RepoKind::Local => Enc::Passphrase,
                RepoKind::S3 => Enc::Recipients,
            },
            secrets: true,
        });
        // Incompressible, so what is stored tracks what is read.
        app.add_bulk_files(bulk_files, bulk_bytes);
        let proxy = app.s3().map(|s3| {
            let proxy = HoldingProxy::start(s3.port());
            let config = app.config_text();
            assert!(config.contains(&s3.endpoint()), "{config}");
            app.write_raw_config(&config.replace(&s3.endpoint(), &proxy.endpoint()));
            proxy
        });
        Sweep {
            app,
            proxy,
            kind: match repo {
                RepoKind::Local => "local",
                RepoKind::S3 => "s3",
            },
            verified: BTreeSet::new(),
        }
    }

    /// Bytes written so far by backups: files in the local repositories and the spool, and
    /// for S3 everything s3s-fs ever wrote.
    fn progress(&self) -> u64 {
        let mut bytes = bytes_under(&self.app.secrets_repo_dir()) + bytes_under(&spool(&self.app));
        match self.app.s3() {
            Some(s3) => bytes += bytes_written_by(s3.pid().expect("s3s-fs runs")),
            None => bytes += bytes_under(&self.app.repo_dir()),
        }
        bytes
    }

    /// Starts `lifeboat <args>` leading its own process group, its output to files.
    fn spawn(&self, tag: &str, args: &[&str]) -> Child {
        let out = |name: &str| {
            std::fs::File::create(self.app.root().join(format!("{tag}.{name}")))
                .expect("create an output file for the backup")
        };
        self.app
            .command(args)
            .process_group(0)
            .stdout(Stdio::from(out("stdout")))
            .stderr(Stdio::from(out("stderr")))
            .spawn()
            .expect("spawn lifeboat backup")
    }

    fn output_of(&self, tag: &str) -> String {
        let read = |name: &str| {
            std::fs::read_to_string(self.app.root().join(format!("{tag}.{name}")))
                .unwrap_or_default()
        };
        format!("stdout:\n{}\nstderr:\n{}", read("stdout"), read("stderr"))
    }

    /// An unfaulted backup, watched: the most bytes it had written at any moment.
    fn measure(&mut self) -> u64 {
        let baseline = self.progress();
        let mut child = self.spawn("measure", &["backup"]);
        let started = Instant::now();
        let mut peak = 0;
        let status = loop {
            peak = peak.max(self.progress().saturating_sub(baseline));
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(started.elapsed() < RUN_LIMIT, "the unfaulted backup hangs");
            std::thread::sleep(POLL);
        };
        assert!(
            status.success(),
            "the unfaulted backup failed ({status}):\n{}",
            self.output_of("measure")
        );
        println!(
            "[{}] unfaulted backup: {} written, {} ms",
            self.kind,
            mib(peak),
            started.elapsed().as_millis()
        );
        self.listed_sets_verify();
        assert_eq!(self.verified.len(), 1, "one set after the unfaulted backup");
        peak
    }

    /// The journal's raw records of the run `pid` started, oldest first.
    fn records_of(&self, pid: u32) -> Vec<Value> {
        let text = std::fs::read_to_string(self.app.journal_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["type"] == "run" && e["pid"] == pid)
            .collect()
    }

    /// Runs a backup and SIGKILLs it at `point` (only the lifeboat process, or its group);
    /// with `resume`, `backup --resume` uploading that spooled set. Err when the run finished
    /// before the kill could land.
    fn kill_at(
        &self,
        point: Point,
        whole_group: bool,
        resume: Option<&str>,
        tag: &str,
    ) -> Result<Killed, String> {
        let baseline = self.progress();
        let args: &[&str] = match resume {
            Some(_) => &["backup", "--resume"],
            None => &["backup"],
        };
        let mut child = self.spawn(tag, args);
        let pid = child.id();
        let started = Instant::now();
        let mut ended = None;
        let mut alive = |child: &mut Child| {
            assert!(
                started.elapsed() < RUN_LIMIT,
                "[{}] the kill point {point:?} was not reached within {RUN_LIMIT:?}",
                self.kind
            );
            ended = child.try_wait().expect("try_wait");
            ended.is_none()
        };
        // A resume records no run of its own.
        let mut set_id = resume.map(str::to_string);
        while set_id.is_none() && alive(&mut child) {
            set_id = self.records_of(pid).first().map(|r| {
                r["set_id"]
                    .as_str()
                    .expect("set_id in the run record")
                    .to_string()
            });
            std::thread::sleep(POLL);
        }
        let set_id = set_id.unwrap_or_default();
        match point {
            Point::Recorded => {}
            Point::Bytes(target) => {
                while self.progress().saturating_sub(baseline) < target && alive(&mut child) {
                    std::thread::sleep(POLL);
                }
            }
            Point::Lands { secrets, name } => {
                match (&self.proxy, self.held_request(point, &set_id)) {
                    (Some(proxy), Some((request, hold))) => {
                        proxy.arm(request, hold);
                        while !proxy.holds() && alive(&mut child) {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    _ => {
                        let dir = if secrets {
                            self.app.secrets_set_dir(&set_id)
                        } else {
                            self.app.set_dir_local(&set_id)
                        };
                        while !dir.is_dir() && alive(&mut child) {
                            std::thread::sleep(POLL);
                        }
                        let watch = DirWatch::new(&dir);
                        // Looked for after the watch is set: an earlier arrival is seen here,
                        // a later one wakes the watch.
                        while !dir.join(name).exists() && alive(&mut child) {
                            match &watch {
                                Some(w) => {
                                    if w.names(Duration::from_millis(20)).iter().any(|n| n == name)
                                    {
                                        break;
                                    }
                                }
                                None => std::thread::sleep(Duration::from_micros(200)),
                            }
                        }
                    }
                }
            }
        }
        let target = if whole_group {
            -(pid as libc::pid_t)
        } else {
            pid as libc::pid_t
        };
        if ended.is_none() {
            // SAFETY: signalling our own child, not yet reaped (or the process group it leads);
            // if it has just exited, the zombie takes the signal harmlessly.
            unsafe { libc::kill(target, libc::SIGKILL) };
        }
        let after = started.elapsed();
        if let Some(proxy) = &self.proxy {
            proxy.disarm();
        }
        let status = match ended {
            Some(status) => status,
            None => child.wait().expect("wait for the killed backup"),
        };
        if status.signal() != Some(libc::SIGKILL) {
            return Err(format!(
                "the backup ended ({status}) before the kill at {point:?}:\n{}",
                self.output_of(tag)
            ));
        }
        // Measured once it is dead: nothing more is written, and the kill came first.
        let landed_bytes = self.progress().saturating_sub(baseline);
        let finished = self
            .records_of(pid)
            .iter()
            .any(|r| r["status"] != "running");
        let mut killed = Killed {
            pid,
            whole_group,
            set_id,
            landed_bytes,
            after,
            finished,
            in_window: true,
        };
        killed.in_window = self.in_window(point, &killed);
        Ok(killed)
    }

    /// With S3, what the proxy holds so the run stops right after `point`: the data checksums
    /// after the secrets manifest, the manifest after the checksums, and after the manifest,
    /// the answer to it.
    fn held_request(&self, point: Point, set_id: &str) -> Option<(String, Hold)> {
        let (object, hold) = match point {
            SECRETS_MANIFEST => ("checksums.sha256", Hold::Request),
            CHECKSUMS => ("manifest.json", Hold::Request),
            MANIFEST => ("manifest.json", Hold::Response),
            _ => return None,
        };
        let bucket = self.app.s3()?.bucket().to_string();
        let line = format!("PUT /{bucket}/{S3_PREFIX}/sets/{set_id}/{object}");
        Some((line, hold))
    }

    /// Whether a kill landed where its point aims: nothing written; no data checksums yet; no
    /// data manifest yet; the run not yet recorded as finished.
    fn in_window(&self, point: Point, killed: &Killed) -> bool {
        let data = self.app.set_dir_local(&killed.set_id);
        match point {
            Point::Recorded => killed.landed_bytes == 0,
            Point::Bytes(_) => true,
            SECRETS_MANIFEST => !data.join("checksums.sha256").exists(),
            CHECKSUMS => !data.join("manifest.json").exists(),
            Point::Lands { .. } => !killed.finished,
        }
    }

    /// `list --json`: the complete sets; every one not verified yet must pass `verify`.
    fn listed_sets_verify(&mut self) -> Vec<String> {
        let kind = self.kind;
        let (code, list) = self.app.lifeboat_json(&["list"]);
        assert_eq!(code, 0, "[{kind}] list: {list:#}");
        let ids: Vec<String> = list["sets"]
            .as_array()
            .unwrap_or_else(|| panic!("[{kind}] no sets in {list:#}"))
            .iter()
            .map(|s| s["set_id"].as_str().expect("set_id").to_string())
            .collect();
        for id in &ids {
            if self.verified.contains(id) {
                continue;
            }
            let (code, report) = self.app.lifeboat_json(&["verify", id]);
            assert!(
                code == 0 && report["sets"][0]["ok"] == true,
                "[{kind}] listed set {id} does not verify (exit {code}): {report:#}"
            );
            self.verified.insert(id.clone());
        }
        ids
    }

    /// The killed set in `inventory --json`: absent, incomplete or complete.
    fn inventory_state(&self, id: &str) -> &'static str {
        let (code, inventory) = self.app.lifeboat_json(&["inventory"]);
        assert_eq!(code, 0, "[{}] inventory: {inventory:#}", self.kind);
        let sets = inventory["sets"].as_array().expect("sets in the inventory");
        match sets.iter().find(|s| s["set_id"] == id) {
            None => "absent",
            Some(s) if s["complete"] == true => "complete",
            Some(_) => "incomplete",
        }
    }

    /// The `.tmp` folders of the local repositories (OpenDAL's partial objects).
    fn tmp_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.app.secrets_repo_dir().join(".tmp")];
        if self.app.s3().is_none() {
            dirs.push(self.app.repo_dir().join(".tmp"));
        }
        dirs
    }

    /// Partial objects the kill left in the local repositories, aged past the day the next
    /// backup waits before removing a temporary (it cannot know no other host writes it).
    fn age_partial_objects(&self) -> Vec<(String, u64)> {
        let mut partial = Vec::new();
        for dir in self.tmp_dirs() {
            for (name, size) in files_under(&dir) {
                std::fs::File::options()
                    .write(true)
                    .open(dir.join(&name))
                    .and_then(|f| f.set_modified(SystemTime::now() - AGED))
                    .unwrap_or_else(|e| panic!("age {name}: {e}"));
                partial.push((name, size));
            }
        }
        partial
    }

    /// Everything after one kill (see the header); returns a line saying how it went.
    fn check_after_kill(&mut self, killed: &Killed, restore: Restore) -> String {
        let kind = self.kind;
        let id = killed.set_id.as_str();
        let state = self.inventory_state(id);
        let manifest_written = self.app.set_dir_local(id).join("manifest.json").is_file();
        assert_eq!(
            state == "complete",
            manifest_written,
            "[{kind}] the killed set {id} is {state} but its manifest is{} on disk",
            if manifest_written { "" } else { " not" }
        );

        let (code, status) = self.app.lifeboat_json(&["status"]);
        let last = &status["last_run"];
        if killed.finished {
            // Killed after recording its end: what it recorded stands.
            assert!(
                last["pid"] == killed.pid && last["status"] == "completed" && state == "complete",
                "[{kind}] the run (pid {}) recorded its end before the kill: {status:#}",
                killed.pid
            );
        } else {
            assert!(
                code != 0
                    && last["pid"] == killed.pid
                    && last["status"] == "failed"
                    && last["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("interrupted")),
                "[{kind}] status exits non-zero saying the newest run (pid {}) was \
                 interrupted (exit {code}): {status:#}",
                killed.pid
            );
        }

        let partial = self.age_partial_objects();
        let agents = agents_of(&self.app);
        let before = (restore == Restore::Real).then(|| (self.app.data_dump(), self.blob()));
        let out = self.app.lifeboat(&["backup", "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "[{kind}] the backup after the kill: {}",
            describe(&out)
        );
        // A run killed after recording its end may also have released the lock.
        assert!(
            killed.finished
                || text(&out.stderr).contains("stale lock")
                    && text(&out.stderr).contains(&format!("pid {}", killed.pid)),
            "[{kind}] the next backup says it took over the lock of pid {}: {}",
            killed.pid,
            describe(&out)
        );
        let result: Value = serde_json::from_slice(&out.stdout).expect("backup --json");
        let new = result["set_id"].as_str().expect("set_id").to_string();
        assert_ne!(new, id);
        // Every listed set verifies: the new one, and the killed one if it is complete.
        let listed = self.listed_sets_verify();
        assert!(
            listed.contains(&new) && listed.iter().any(|l| l == id) == (state == "complete"),
            "[{kind}] list shows the new set {new}, and the killed set {id} exactly when it is \
             complete ({state}): {listed:?}"
        );

        // Nothing of the killed run is left behind.
        let spooled = files_under(&spool(&self.app));
        assert!(
            spooled.is_empty(),
            "[{kind}] the spool still holds files after the next backup: {spooled:?}"
        );
        for dir in self.tmp_dirs() {
            let left = files_under(&dir);
            assert!(
                left.is_empty(),
                "[{kind}] {} still holds partial objects after the next backup: {left:?}",
                dir.display()
            );
        }
        let still = agents_of(&self.app);
        assert!(
            still.is_empty(),
            "[{kind}] gpg-agents of killed runs still run after the next backup \
             (before it: {agents:?}): {still:?}"
        );
        for (_, home) in &agents {
            assert!(
                !Path::new(home).exists(),
                "[{kind}] the killed run's GNUPGHOME {home} is still there"
            );
        }

        match before {
            None if restore == Restore::None => {}
            None => {
                let (code, plan) = self.app.lifeboat_json(&["restore", &new, "--dry-run"]);
                assert!(
                    code == 0 && plan["problems"] == serde_json::json!([]),
                    "[{kind}] restore {new} --dry-run (exit {code}): {plan:#}"
                );
            }
            Some((rows, blob)) => {
                // The application moves on: rows go, a file goes; the restore brings them back.
                self.app
                    .psql("DELETE FROM billing.invoices WHERE number > 2900");
                std::fs::remove_file(self.blob_path()).expect("delete a bulk file");
                let out =
                    self.app
                        .lifeboat(&["restore", &new, "--yes", "--no-safety-backup", "--json"]);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "[{kind}] restore {new}: {}",
                    describe(&out)
                );
                assert!(
                    self.app.data_dump() == rows,
                    "[{kind}] the restored rows differ from those backed up in {new}"
                );
                assert!(
                    self.blob() == blob,
                    "[{kind}] the deleted bulk file did not come back byte-identical"
                );
            }
        }

        let (code, status) = self.app.lifeboat_json(&["status"]);
        assert_eq!(
            code, 0,
            "[{kind}] status after the backup that followed the kill: {status:#}"
        );
        if !killed.whole_group {
            // The orphans of a kill that spared them (pg_dump, psql, gpg) are gone by now or
            // go now (ESRCH when none is left).
            // SAFETY: signalling the process group our child led.
            unsafe { libc::kill(-(killed.pid as libc::pid_t), libc::SIGKILL) };
        }
        format!(
            "killed set {state}; left {} partial objects ({}), {} agents; next backup ok; {}",
            partial.len(),
            mib(partial.iter().map(|(_, size)| size).sum()),
            agents.len(),
            match restore {
                Restore::Real => "restored",
                Restore::DryRun => "dry run ok",
                Restore::None => "verified",
            }
        )
    }

    /// Keeps the repositories small so that every iteration costs about the same (each CLI
    /// call lists them and reads every manifest): all but the newest few set folders go, from
    /// disk, behind lifeboat's back (s3s-fs lists its directories as they are).
    fn trim(&self) {
        for sets in [
            self.app.data_repo_root().join("sets"),
            self.app.secrets_repo_dir().join("sets"),
        ] {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&sets)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            names.sort();
            for old in names.iter().rev().skip(KEEP_SETS) {
                std::fs::remove_dir_all(old)
                    .unwrap_or_else(|e| panic!("remove {}: {e}", old.display()));
            }
        }
    }

    fn blob_path(&self) -> PathBuf {
        self.app.files_dir().join("bulk/blob-00.bin")
    }

    fn blob(&self) -> Vec<u8> {
        std::fs::read(self.blob_path()).expect("read a bulk file")
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        // After a failure, agents of killed runs may be left; they are ours to stop.
        for (pid, _) in agents_of(&self.app) {
            // SAFETY: signalling a gpg-agent started on behalf of this test's runs.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
    }
}

/// The local spool of uploads to remote repositories (never created for a local repository).
fn spool(app: &TestApp) -> PathBuf {
    app.data_dir().join("spool")
}

fn sweep(repo: RepoKind) {
    let started = Instant::now();
    let (byte_points, bulk_files, bulk_bytes, attempts) = scale();
    let mut sweep = Sweep::new(repo, bulk_files, bulk_bytes);
    let kind = sweep.kind;
    let total = sweep.measure();
    let mut points = vec![Point::Recorded];
    points.extend((1..=byte_points).map(|i| Point::Bytes(total * i / (byte_points + 1))));
    points.extend([SECRETS_MANIFEST, CHECKSUMS, MANIFEST]);

    let mut kills = 0;
    let mut landed = Vec::new();
    let mut windows = Vec::new();
    for (index, point) in points.iter().enumerate() {
        let phase = matches!(point, Point::Lands { .. });
        let mut caught = false;
        for attempt in 1..=if phase { attempts } else { 1 } {
            let iteration = Instant::now();
            let whole_group = kills % 2 == 1;
            let head = format!(
                "[{kind}] kill {:2}/{} at {}{}",
                index + 1,
                points.len(),
                point.label(total),
                if phase {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                }
            );
            let killed = match sweep.kill_at(
                *point,
                whole_group,
                None,
                &format!("kill-{index}-{attempt}"),
            ) {
                Ok(killed) => killed,
                // Only a phase point can be overtaken by the end of the run.
                Err(why) if phase => {
                    println!(
                        "{head}: too late, {}",
                        why.lines().next().unwrap_or_default()
                    );
                    continue;
                }
                Err(why) => panic!("[{kind}] {why}"),
            };
            kills += 1;
            landed.push(killed.landed_bytes * 10 / MIB);
            println!(
                "{head}: landed at {} ({}%) after {} ms, {}; data: {}; secrets: {}",
                mib(killed.landed_bytes),
                killed.landed_bytes * 100 / total.max(1),
                killed.after.as_millis(),
                if whole_group {
                    "process group"
                } else {
                    "lifeboat only"
                },
                names_in(&sweep.app.set_dir_local(&killed.set_id)),
                names_in(&sweep.app.secrets_set_dir(&killed.set_id)),
            );
            let how = sweep.check_after_kill(&killed, restore_after(index));
            sweep.trim();
            println!(
                "[{kind}]         {}{how} ({:.1} s)",
                if killed.in_window {
                    ""
                } else {
                    "after its window; "
                },
                iteration.elapsed().as_secs_f64()
            );
            if killed.in_window {
                caught = true;
                break;
            }
        }
        if phase {
            windows.push(format!(
                "{}: {}",
                point.label(total),
                if caught { "caught" } else { "missed" }
            ));
        }
    }
    landed.sort_unstable();
    landed.dedup();
    println!(
        "[{kind}] {kills} kills at {} points, landing at {} places (to 0.1 MiB); phase windows: \
         {}; {} sets verified; {:.1} s",
        points.len(),
        landed.len(),
        windows.join(", "),
        sweep.verified.len(),
        started.elapsed().as_secs_f64()
    );
}

/// A set spooled while the endpoint was down, then `backup --resume` killed while uploading it:
/// twice mid-upload (by bytes s3s-fs wrote), once with every object up but the manifest held
/// back, once with the manifest up but its answer held back (the spool not yet cleared). After
/// each kill the repository lists only sets that verify, the set still waits in the spool, and
/// in the end a resume uploads it whole.
#[test]
fn crash_sweep_s3_resume_of_a_spooled_set() {
    let (_, bulk_files, bulk_bytes, _) = scale();
    let mut sweep = Sweep::new(RepoKind::S3, bulk_files, bulk_bytes);
    sweep.app.s3_mut().expect("s3").stop();
    let (code, result) = sweep.app.lifeboat_json(&["backup"]);
    assert_eq!(
        code, EXIT_SPOOLED,
        "backup while s3s-fs is down: {result:#}"
    );
    let id = result["set_id"].as_str().expect("set_id").to_string();
    sweep.app.s3_mut().expect("s3").restart();
    let size = bytes_under(&spool(&sweep.app));
    println!("[s3 resume] set {id} spooled: {}", mib(size));

    let points = [
        Point::Bytes(size / 3),
        Point::Bytes(size * 2 / 3),
        CHECKSUMS,
        MANIFEST,
    ];
    for (index, point) in points.into_iter().enumerate() {
        let killed = sweep
            .kill_at(point, index % 2 == 1, Some(&id), &format!("resume-{index}"))
            .unwrap_or_else(|why| panic!("[s3 resume] {why}"));
        let listed = sweep.listed_sets_verify();
        let complete = listed.contains(&id);
        println!(
            "[s3 resume] kill {}/{} at {}: landed after {} ms; in the repository: {} ({})",
            index + 1,
            points.len(),
            point.label(size),
            killed.after.as_millis(),
            names_in(&sweep.app.set_dir_local(&id)),
            if complete { "complete" } else { "incomplete" }
        );
        assert_eq!(
            complete,
            point == MANIFEST,
            "[s3 resume] the set is complete exactly when the kill came after its manifest"
        );
        let (_, status) = sweep.app.lifeboat_json(&["status"]);
        assert_eq!(
            status["spooled_sets"],
            serde_json::json!([id]),
            "[s3 resume] the set still waits in the spool: {status:#}"
        );
    }

    let out = sweep.app.lifeboat(&["backup", "--resume", "--json"]);
    assert_eq!(out.status.code(), Some(0), "[s3 resume] {}", describe(&out));
    assert!(
        text(&out.stderr).contains("stale lock"),
        "[s3 resume] the last resume takes over the killed one's lock: {}",
        describe(&out)
    );
    let resumed: Value = serde_json::from_slice(&out.stdout).expect("backup --resume --json");
    assert_eq!(resumed["resumed"], serde_json::json!([id]), "{resumed:#}");
    // Uploaded again over the copy the last kill left: verify once more.
    sweep.verified.remove(&id);
    assert_eq!(sweep.listed_sets_verify(), vec![id.clone()]);
    let spooled = files_under(&spool(&sweep.app));
    assert!(
        spooled.is_empty(),
        "[s3 resume] the spool still holds {spooled:?}"
    );
    let (code, plan) = sweep.app.lifeboat_json(&["restore", &id, "--dry-run"]);
    assert!(
        code == 0 && plan["problems"] == serde_json::json!([]),
        "[s3 resume] restore {id} --dry-run (exit {code}): {plan:#}"
    );
}

#[test]
fn crash_sweep_local_repository() {
    sweep(RepoKind::Local);
}

#[test]
fn crash_sweep_s3_repository() {
    sweep(RepoKind::S3);
}
