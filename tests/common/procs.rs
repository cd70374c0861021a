//! Watching processes through `/proc` while a command runs, for secret-leak tests.
//!
//! A [`TreeWatch`] sweeps `/proc` in a loop on its own thread until it is finished: every
//! process's argv (`cmdline`), and the environment (`environ`) of the watched process and all
//! its descendants (found through the parent pids in `/proc/<pid>/stat`), looking for any of
//! the given secrets. Programs that legitimately get a secret in their environment (libpq's
//! `PGPASSWORD` for `psql`, `pg_dump`, `pg_restore`) are named as exempt: their environment is
//! not a leak, but a secret found there is counted, which proves the watch can see one.
//!
//! gpg starts its gpg-agent through a double fork, so the agent's parent is gone by the time it
//! runs and it would be re-parented to init, out of the tree: [`adopt_orphans`] makes the test
//! process a child subreaper, so such grandchildren are re-parented to it instead, and watching
//! the test process's own tree sees them.
//!
//! Short-lived children can be waited for instead of hoped for: a `(marker, path)` pair makes
//! the watch create `path` when it first sees a descendant whose argv contains `marker`, so a
//! hook written to wait for that file cannot finish unseen.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One process the watch saw (a descendant of the watched one, or the watched one itself).
#[derive(Debug, Clone)]
pub struct Sighting {
    pub pid: u32,
    /// argv\[0\]'s base name of every program it was seen running: a child is its parent's
    /// program between fork and exec, so one forked by lifeboat to run gpg has both.
    pub programs: BTreeSet<String>,
    /// The last argv seen, joined with spaces, secrets masked.
    pub argv: String,
}

#[derive(Debug, Default)]
pub struct Samples {
    pub sweeps: u64,
    /// Every process of the watched tree, keyed by pid and start time (pids get reused).
    pub tree: BTreeMap<(u32, u64), Sighting>,
    /// How many environments of the tree were read (exempt programs included).
    pub environs_read: u64,
    /// Exempt programs whose environment held a secret, as expected (masked descriptions).
    pub exempt_holding_secret: BTreeSet<String>,
    /// Where a secret was found that should not have been (masked descriptions).
    pub leaks: BTreeSet<String>,
}

impl Samples {
    /// How many distinct processes ran each program (a process counts for every program it
    /// was seen running).
    pub fn programs(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for program in self.tree.values().flat_map(|s| &s.programs) {
            *counts.entry(program.clone()).or_default() += 1;
        }
        counts
    }

    pub fn saw(&self, program: &str) -> bool {
        self.tree.values().any(|s| s.programs.contains(program))
    }

    /// A one-line summary for test output.
    pub fn summary(&self) -> String {
        format!(
            "{} sweeps, {} processes in the tree ({} environments read): {:?}",
            self.sweeps,
            self.tree.len(),
            self.environs_read,
            self.programs()
        )
    }
}

/// Makes this process the child subreaper of everything it starts from now on (see the module
/// comment); processes that were orphaned before stay with init.
pub fn adopt_orphans() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only changes this process's reparenting rule.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "prctl(PR_SET_CHILD_SUBREAPER): {}",
        std::io::Error::last_os_error()
    );
}

pub struct TreeWatch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Samples>,
}

impl TreeWatch {
    /// Starts watching `root` (a pid) and its descendants for `secrets`. `root` may be this
    /// process (after [`adopt_orphans`]): it is never inspected itself, only its descendants.
    pub fn start(
        root: u32,
        secrets: Vec<String>,
        env_exempt: &[&str],
        on_sight: Vec<(String, PathBuf)>,
    ) -> TreeWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let exempt: Vec<String> = env_exempt.iter().map(|s| s.to_string()).collect();
        let handle = {
            let stop = stop.clone();
            std::thread::spawn(move || watch(root, &secrets, &exempt, on_sight, &stop))
        };
        TreeWatch { stop, handle }
    }

    /// Stops after the sweep in progress and returns what was seen.
    pub fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("the /proc watch thread panicked")
    }
}

/// (ppid, start time) from `/proc/<pid>/stat`; the command name in parentheses may hold
/// spaces and parentheses itself, so fields are counted after the last `)`.
fn parent_and_start(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3 of proc(5)); ppid is field 4, starttime field 22.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for (i, secret) in secrets.iter().enumerate() {
        out = out.replace(secret.as_str(), &format!("<secret #{i}>"));
    }
    out
}

fn holds_secret(bytes: &[u8], secrets: &[String]) -> bool {
    secrets
        .iter()
        .any(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
}

fn watch(
    root: u32,
    secrets: &[String],
    exempt: &[String],
    mut on_sight: Vec<(String, PathBuf)>,
    stop: &AtomicBool,
) -> Samples {
    let me = std::process::id();
    let mut samples = Samples::default();
    loop {
        // Checked before the sweep, so one full sweep always runs after `finish` is asked.
        let last = stop.load(Ordering::Relaxed);
        samples.sweeps += 1;
        let all = pids();
        let mut children: BTreeMap<u32, Vec<(u32, u64)>> = BTreeMap::new();
        let mut root_start = None;
        for &pid in &all {
            if let Some((ppid, start)) = parent_and_start(pid) {
                children.entry(ppid).or_default().push((pid, start));
                if pid == root {
                    root_start = Some(start);
                }
            }
        }
        let mut tree: BTreeSet<(u32, u64)> = BTreeSet::new();
        let mut queue: Vec<(u32, u64)> = root_start.map(|s| (root, s)).into_iter().collect();
        while let Some(node) = queue.pop() {
            if tree.insert(node) {
                queue.extend(children.get(&node.0).into_iter().flatten().copied());
            }
        }
        for &pid in &all {
            if pid == me {
                continue; // the test itself holds the secrets in memory, not in argv or env
            }
            let member = tree.iter().find(|(p, _)| *p == pid).copied();
            // The environment first: a process that execs between the two reads then shows
            // the new program's argv with the old environment, never the reverse, so an
            // exempt program's environment is never blamed on its parent.
            let environ = member.and_then(|_| std::fs::read(format!("/proc/{pid}/environ")).ok());
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue; // gone meanwhile
            };
            if raw.is_empty() {
                continue; // a kernel thread or a zombie
            }
            let argv: Vec<String> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let line = argv.join(" ");
            let program = argv
                .first()
                .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
                .unwrap_or_default();
            if holds_secret(line.as_bytes(), secrets) {
                samples.leaks.insert(format!(
                    "argv of {program} ({pid}): {}",
                    mask(&line, secrets)
                ));
            }
            let Some(key) = member else { continue };
            let sighting = samples.tree.entry(key).or_insert_with(|| Sighting {
                pid,
                programs: BTreeSet::new(),
                argv: String::new(),
            });
            sighting.programs.insert(program.clone());
            sighting.argv = mask(&line, secrets);
            on_sight.retain(|(marker, path)| {
                if line.contains(marker.as_str()) {
                    std::fs::write(path, b"seen\n")
                        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
                    false
                } else {
                    true
                }
            });
            let Some(environ) = environ else { continue };
            samples.environs_read += 1;
            for var in environ.split(|b| *b == 0) {
                if !holds_secret(var, secrets) {
                    continue;
                }
                let name = String::from_utf8_lossy(var.split(|b| *b == b'=').next().unwrap_or(b""))
                    .into_owned();
                let what = format!("{name} in the environment of {program} ({pid})");
                if exempt.contains(&program) {
                    samples.exempt_holding_secret.insert(what);
                } else {
                    samples.leaks.insert(what);
                }
            }
        }
        if last {
            return samples;
        }
    }
}

/// A process found by [`tagged`].
#[derive(Debug, Clone)]
pub struct Tagged {
    pub pid: u32,
    /// `/proc/<pid>/comm`: `postgres` for a postmaster and its backends alike, whatever they
    /// have written over their argv.
    pub comm: String,
    pub args: Vec<String>,
}

/// The processes whose environment holds `var=value` (a tag a test gives the lifeboat it
/// starts, inherited by everything that lifeboat starts, gpg-agent and postgres included).
pub fn tagged(var: &str, value: &str) -> Vec<Tagged> {
    let needle = format!("{var}={value}");
    let mut found = Vec::new();
    for pid in pids() {
        let dir = format!("/proc/{pid}");
        let Ok(env) = std::fs::read(format!("{dir}/environ")) else {
            continue;
        };
        if !env.split(|b| *b == 0).any(|v| v == needle.as_bytes()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("{dir}/comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let args = std::fs::read(format!("{dir}/cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        // A zombie has no environment left to read, so it never gets here.
        found.push(Tagged { pid, comm, args });
    }
    found
}

/// The files `pid` holds open that have no name any more and lived under `dir` (an
/// `O_TMPFILE` file or one unlinked after opening), with their sizes.
pub fn unlinked_files_held(pid: u32, dir: &std::path::Path) -> Vec<(PathBuf, u64)> {
    let prefix = dir.display().to_string();
    let mut held = Vec::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return held;
    };
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let target = target.display().to_string();
        if target.starts_with(&prefix) && target.ends_with(" (deleted)") {
            let size = std::fs::metadata(fd.path()).map(|m| m.len()).unwrap_or(0);
            held.push((fd.path(), size));
        }
    }
    held
}
