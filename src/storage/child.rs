//! Child processes that die with lifeboat. A lifeboat killed with SIGKILL (or by the OOM
//! killer) runs no destructor, so a pg_restore, psql, pg_dump, gpg or throwaway postmaster it
//! started would run on, holding restored production data open or a decrypted file alive.
//! Linux's `PR_SET_PDEATHSIG` makes the kernel signal the child when its parent dies.
//!
//! The "parent" of that rule is the *thread* that forked the child, not the process: a child
//! spawned from a short-lived thread (tokio's blocking pool retires idle threads after 10 s)
//! would be killed when that thread retires. So [`tie_to_lifeboat`] is only for children the
//! spawning thread waits for itself (`output()`, `status()`, spawn-then-wait in one function),
//! and [`spawn`] hands the fork to one thread that lives as long as the process, for children
//! that outlive the call that starts them (a psql session, a postmaster).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::OnceLock;

type Job = Box<dyn FnOnce() + Send>;

/// Makes the kernel send `signal` to the child when the thread that spawns it ends (with
/// lifeboat, for the threads this module's docs allow). Registered as a `pre_exec` step, so it
/// runs after `Command::uid`/`gid` (a credential change would clear the setting) and after any
/// step registered before it.
pub fn tie_to_lifeboat(cmd: &mut Command, signal: libc::c_int) {
    let parent = std::process::id();
    // SAFETY: prctl, getppid and raise are async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // lifeboat died between fork and prctl: nobody would send the signal any more.
            if libc::getppid() as u32 != parent {
                libc::raise(signal);
                return Err(io::Error::other("lifeboat ended while starting the child"));
            }
            Ok(())
        });
    }
}

/// Spawns `cmd` from a thread that lives as long as lifeboat, so a child tied with
/// [`tie_to_lifeboat`] dies with lifeboat and not before. The child can be waited for from any
/// thread.
pub fn spawn(mut cmd: Command) -> io::Result<Child> {
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(cmd.spawn());
    });
    match spawner() {
        Some(spawner) => {
            if let Err(mpsc::SendError(job)) = spawner.send(job) {
                job();
            }
        }
        // No thread could be started: spawning here still ties the child to this thread.
        None => job(),
    }
    rx.recv()
        .unwrap_or_else(|_| Err(io::Error::other("the spawner thread ended")))
}

fn spawner() -> Option<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("lifeboat-spawner".into())
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn alive(pid: u32) -> bool {
        crate::storage::lock::process_alive_since(pid, None)
            && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| !s.contains(") Z "))
                .unwrap_or(false)
    }

    fn wait_gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// A child spawned through the spawner outlives the short-lived thread that asked for it;
    /// one tied and spawned from that thread itself dies with the thread.
    #[test]
    fn spawned_children_outlive_the_asking_thread_and_tied_ones_die_with_their_parent() {
        let (through_spawner, direct) = std::thread::spawn(|| {
            let mut a = Command::new("sleep");
            a.arg("30");
            tie_to_lifeboat(&mut a, libc::SIGKILL);
            let a = spawn(a).expect("spawn sleep through the spawner");
            let mut b = Command::new("sleep");
            b.arg("30");
            tie_to_lifeboat(&mut b, libc::SIGKILL);
            let b = b.spawn().expect("spawn sleep here");
            (a, b)
        })
        .join()
        .expect("thread");
        let (mut through_spawner, mut direct) = (through_spawner, direct);
        // The asking thread is gone: its own child got SIGKILL, the spawner's did not.
        let status = direct.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        // Both signals would have been sent at the same instant; give a late one time to land.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            through_spawner.try_wait().expect("poll").is_none(),
            "the spawner's child died with the asking thread"
        );
        through_spawner.kill().expect("kill");
        through_spawner.wait().expect("wait");
        assert!(wait_gone(through_spawner.id()));
    }
}
