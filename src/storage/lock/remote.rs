//! The lock that holds across hosts: one object in the repository (`store`), created only if
//! absent, renewed by a background task while its holder runs, taken over once its lease ran out
//! (`lease`), and deleted on release only while it is still ours.
//!
//! Every write is conditional on the version last read, so two hosts racing for a free or a
//! stale lock cannot both win; each then reads the object back and holds the lock only if the
//! record there is its own. A server that ignores the conditions (a second conditional write of
//! the same object succeeds where it must fail) or refuses them makes the lock advisory only:
//! the run goes on, and says so once.

use super::lease::{LeaseRecord, LeaseTimes};
use super::store::{Cond, Seen, Store};
use super::LockHolder;
use crate::storage::repository::RepoError;
use chrono::Utc;
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

/// Looks at a contested lock this many times before giving up on naming a stable holder.
const ATTEMPTS: usize = 4;

#[derive(Debug)]
pub enum Refusal {
    Held(LockHolder),
    Storage(RepoError),
}

impl From<RepoError> for Refusal {
    fn from(e: RepoError) -> Self {
        Refusal::Storage(e)
    }
}

/// What the holder knows of its own object: the record and the tag of the version it wrote.
struct Mine {
    record: LeaseRecord,
    tag: String,
}

/// A held lease; renewed until `release`.
pub struct Lease {
    store: Arc<Store>,
    mine: Arc<Mutex<Option<Mine>>>,
    renewal: JoinHandle<()>,
    times: LeaseTimes,
    pub took_over: Option<LockHolder>,
    /// Why the lock is advisory only, for the run to say once.
    pub advisory_reason: Option<String>,
}

/// Takes the repository lock, or names who holds it.
pub async fn acquire(store: Store, purpose: &str, times: LeaseTimes) -> Result<Lease, Refusal> {
    let record = LeaseRecord::mine(purpose, times);
    let mut took_over = None;
    let mut advisory: Option<String> = None;
    let mut last_holder = None;
    for _ in 0..ATTEMPTS {
        match store.read(times).await? {
            Some(seen) if seen.record.run_id == record.run_id => {}
            Some(seen) if !seen.record.is_stale(Utc::now(), seen.modified) => {
                return Err(Refusal::Held(seen.record.holder()));
            }
            Some(seen) => {
                let fresh = record.renewed(times);
                match store.replace(&fresh, &seen.tag).await? {
                    Cond::Done(_) => {
                        took_over = Some(seen.record.holder());
                        // The stale version is gone: the same condition must fail now.
                        if let Some(why) =
                            ignored(store.replace(&fresh, &seen.tag).await?, "If-Match")
                        {
                            advisory.get_or_insert(why);
                        }
                    }
                    Cond::Conflict => {
                        last_holder = Some(seen.record.holder());
                        continue;
                    }
                    Cond::Unsupported(why) => {
                        advisory.get_or_insert(why);
                        took_over = Some(seen.record.holder());
                        store.overwrite(&fresh).await?;
                    }
                }
            }
            None => match store.create(&record).await? {
                Cond::Done(_) => {
                    // It exists now: a second create must fail.
                    if let Some(why) = ignored(store.create(&record).await?, "If-None-Match") {
                        advisory.get_or_insert(why);
                    }
                }
                Cond::Conflict => continue,
                Cond::Unsupported(why) => {
                    advisory.get_or_insert(why);
                    store.overwrite(&record).await?;
                }
            },
        }
        // Read back: the lock is ours only if our record is there.
        match store.read(times).await? {
            Some(Seen {
                record: there, tag, ..
            }) if there.run_id == record.run_id => {
                return Ok(start(
                    store,
                    Mine { record: there, tag },
                    times,
                    took_over,
                    advisory,
                ));
            }
            Some(seen) => {
                if !seen.record.is_stale(Utc::now(), seen.modified) {
                    return Err(Refusal::Held(seen.record.holder()));
                }
                last_holder = Some(seen.record.holder());
            }
            None => {}
        }
    }
    Err(Refusal::Held(last_holder.unwrap_or_else(|| {
        LeaseRecord::unreadable(None, times).holder()
    })))
}

/// `Some(why)` when a conditional write that had to fail succeeded: the server ignores it.
fn ignored(second: Cond, header: &str) -> Option<String> {
    match second {
        Cond::Done(_) => Some(format!(
            "the server accepted a write whose {header} condition was false"
        )),
        Cond::Conflict => None,
        Cond::Unsupported(why) => Some(why),
    }
}

/// Who holds the lock now, if anyone whose lease still runs (errors read as "nobody": this
/// serves status displays, never a decision to write).
pub async fn holder(store: &Store, times: LeaseTimes) -> Option<LockHolder> {
    match store.read(times).await {
        Ok(Some(seen)) if !seen.record.is_stale(Utc::now(), seen.modified) => {
            Some(seen.record.holder())
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("cannot read the repository lock: {e}");
            None
        }
    }
}

fn start(
    store: Store,
    mine: Mine,
    times: LeaseTimes,
    took_over: Option<LockHolder>,
    advisory_reason: Option<String>,
) -> Lease {
    let store = Arc::new(store);
    let advisory = advisory_reason.is_some();
    let mine = Arc::new(Mutex::new(Some(mine)));
    let renewal = tokio::spawn(renew_loop(store.clone(), mine.clone(), times, advisory));
    Lease {
        store,
        mine,
        renewal,
        times,
        took_over,
        advisory_reason,
    }
}

/// Renews the lease every `times.renew`. A failed renewal is retried at the next tick (the lease
/// outlasts three); a lock another host took over stops the renewals with an error in the log:
/// that host decided this lease had expired.
async fn renew_loop(
    store: Arc<Store>,
    mine: Arc<Mutex<Option<Mine>>>,
    times: LeaseTimes,
    advisory: bool,
) {
    loop {
        tokio::time::sleep(times.renew).await;
        let Some((record, tag)) = current(&mine) else {
            return;
        };
        let fresh = record.renewed(times);
        match renew_once(&store, &fresh, &tag, advisory, times).await {
            Ok(Some(new_tag)) => set(&mine, fresh, new_tag),
            Ok(None) => {
                let now = store.read(times).await.ok().flatten();
                let by = now.map_or("nobody (it was removed)".into(), |s| {
                    s.record.holder().to_string()
                });
                tracing::error!(
                    "the repository lock {} was taken over by {by}: this run no longer holds it",
                    store.describe()
                );
                clear(&mine);
                return;
            }
            Err(e) => tracing::warn!(
                "could not renew the repository lock {} (retried in {}): {e}",
                store.describe(),
                crate::storage::units::age(times.renew)
            ),
        }
    }
}

/// `Ok(Some(tag))` renewed, `Ok(None)` lost to another holder.
async fn renew_once(
    store: &Store,
    fresh: &LeaseRecord,
    tag: &str,
    advisory: bool,
    times: LeaseTimes,
) -> Result<Option<String>, RepoError> {
    if !advisory {
        match store.replace(fresh, tag).await? {
            Cond::Done(Some(tag)) => return Ok(Some(tag)),
            Cond::Done(None) => {}
            Cond::Conflict => return Ok(None),
            // Only If-None-Match was probed: a server without If-Match renews as advisory.
            Cond::Unsupported(_) => {}
        }
    }
    match store.read(times).await? {
        Some(seen) if seen.record.run_id == fresh.run_id && seen.record == *fresh => {
            return Ok(Some(seen.tag))
        }
        Some(seen) if seen.record.run_id == fresh.run_id => {}
        _ => return Ok(None),
    }
    Ok(Some(store.overwrite(fresh).await?.unwrap_or_default()))
}

fn current(mine: &Mutex<Option<Mine>>) -> Option<(LeaseRecord, String)> {
    let guard = mine.lock().ok()?;
    guard.as_ref().map(|m| (m.record.clone(), m.tag.clone()))
}

fn set(mine: &Mutex<Option<Mine>>, record: LeaseRecord, tag: String) {
    if let Ok(mut guard) = mine.lock() {
        if guard.is_some() {
            *guard = Some(Mine { record, tag });
        }
    }
}

fn clear(mine: &Mutex<Option<Mine>>) {
    if let Ok(mut guard) = mine.lock() {
        *guard = None;
    }
}

impl Lease {
    /// Stops renewing and deletes the object if it is still ours. A failure is logged with the
    /// time the lease runs out: the next run waits until then at most.
    pub async fn release(self) -> Vec<String> {
        self.renewal.abort();
        let Some((record, _)) = current(&self.mine) else {
            return Vec::new();
        };
        clear(&self.mine);
        release_record(&self.store, &record, self.times).await
    }

    /// Stops the renewals and releases in the background (a guard dropped without `release`).
    fn release_later(&mut self) {
        self.renewal.abort();
        let Some((record, _)) = current(&self.mine) else {
            return;
        };
        clear(&self.mine);
        let (store, times) = (self.store.clone(), self.times);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release_record(&store, &record, times).await });
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release_later();
    }
}

/// Deletes our lock object, trying twice (a lock left behind blocks other hosts for a lease);
/// returns a warning per failed attempt, for the run to show.
async fn release_record(store: &Store, record: &LeaseRecord, times: LeaseTimes) -> Vec<String> {
    let mut warnings = Vec::new();
    for attempt in 1..=2 {
        let result = match store.read(times).await {
            Ok(Some(seen)) if seen.record.run_id == record.run_id => {
                store.delete(&seen.tag).await.map(|_| ())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        let Err(e) = result else {
            break;
        };
        let then = if attempt == 1 {
            "trying once more".to_string()
        } else {
            format!(
                "it binds other hosts until its lease runs out ({})",
                record.lease_expires_at.format("%Y-%m-%d %H:%M:%S UTC")
            )
        };
        let warning = format!(
            "could not remove the repository lock {} ({then}): {e}",
            store.describe()
        );
        tracing::warn!("{warning}");
        warnings.push(warning);
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn local(dir: &std::path::Path) -> Store {
        Store::Local {
            dir: dir.join("locks"),
            conditions: true,
        }
    }

    fn refused_by(result: Result<Lease, Refusal>) -> LockHolder {
        match result {
            Err(Refusal::Held(holder)) => holder,
            Err(Refusal::Storage(e)) => panic!("storage error: {e}"),
            Ok(_) => panic!("expected a refusal"),
        }
    }

    #[tokio::test]
    async fn a_live_lease_refuses_a_second_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let times = LeaseTimes::of(Duration::from_secs(60));
        let first = acquire(local(dir.path()), "backup", times).await.unwrap();
        assert!(first.took_over.is_none() && first.advisory_reason.is_none());
        let holder = refused_by(acquire(local(dir.path()), "prune", times).await);
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.purpose, "backup");
        first.release().await;
        assert!(!dir.path().join("locks/repository.lock").exists());
        let again = acquire(local(dir.path()), "prune", times).await.unwrap();
        assert!(again.took_over.is_none(), "a released lock is not stale");
        again.release().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_many_racing_for_a_free_lock_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let times = LeaseTimes::of(Duration::from_secs(60));
        let racers = (0..8).map(|_| {
            let dir = dir.path().to_path_buf();
            tokio::spawn(async move { acquire(local(&dir), "backup", times).await })
        });
        let results = futures::future::join_all(racers).await;
        let mut won = Vec::new();
        for result in results {
            match result.unwrap() {
                Ok(lease) => won.push(lease),
                Err(Refusal::Held(_)) => {}
                Err(Refusal::Storage(e)) => panic!("{e}"),
            }
        }
        assert_eq!(won.len(), 1, "exactly one holder");
    }

    #[tokio::test]
    async fn an_expired_lease_of_another_host_is_taken_over_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let times = LeaseTimes::of(Duration::from_secs(60));
        let mut old = LeaseRecord::mine("backup", times);
        old.host = "elsewhere.example".into();
        old.pid = 4242;
        old.lease_expires_at = Utc::now() - chrono::Duration::seconds(1);
        old.renewed_at = old.lease_expires_at - chrono::Duration::seconds(60);
        let store = local(dir.path());
        assert!(matches!(store.create(&old).await.unwrap(), Cond::Done(_)));
        // The server's clock says it was written just now: the lease still binds.
        assert_eq!(
            refused_by(acquire(local(dir.path()), "backup", times).await).host,
            "elsewhere.example"
        );
        // Backdate the file as a server would have stamped it a lease ago.
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("locks/repository.lock"))
            .unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(120))
            .unwrap();
        let lease = acquire(local(dir.path()), "backup", times).await.unwrap();
        assert_eq!(lease.took_over, Some(old.holder()));
        lease.release().await;
    }

    #[tokio::test]
    async fn renewal_keeps_a_short_lease_alive_and_a_lost_lock_is_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let times = LeaseTimes::of(Duration::from_millis(800));
        let lease = acquire(local(dir.path()), "backup", times).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let holder = refused_by(acquire(local(dir.path()), "prune", times).await);
        assert_eq!(holder.purpose, "backup", "renewed past two leases");

        // Another host takes the object over: our release must leave its record alone.
        let store = local(dir.path());
        let seen = store.read(times).await.unwrap().unwrap();
        let mut theirs = LeaseRecord::mine("prune", LeaseTimes::of(Duration::from_secs(60)));
        theirs.host = "elsewhere.example".into();
        assert!(matches!(
            store.replace(&theirs, &seen.tag).await.unwrap(),
            Cond::Done(_)
        ));
        lease.release().await;
        let left = store.read(times).await.unwrap().unwrap();
        assert_eq!(left.record.run_id, theirs.run_id);
    }

    #[tokio::test]
    async fn a_server_that_ignores_conditions_makes_the_lock_advisory_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let ignoring = || Store::Local {
            dir: dir.path().join("locks"),
            conditions: false,
        };
        let times = LeaseTimes::of(Duration::from_secs(60));
        let lease = acquire(ignoring(), "backup", times).await.unwrap();
        let why = lease.advisory_reason.clone().expect("advisory");
        assert!(why.contains("If-None-Match"), "{why}");
        // Still the record is there and names its holder to a second run.
        let holder = refused_by(acquire(ignoring(), "prune", times).await);
        assert_eq!(holder.purpose, "backup");
        lease.release().await;
        assert!(!dir.path().join("locks/repository.lock").exists());
    }
}
