//! The index's passes over a local repository (the same calls an S3 one gets), counting the
//! storage calls each makes through the fault layer.

use super::*;
use crate::storage::fault::Faults;
use crate::storage::manifest::tests::sample;
use crate::storage::repository::RepositorySpec;
use std::sync::Arc;

struct Fixture {
    dir: tempfile::TempDir,
    faults: Arc<Faults>,
    repo: Repository,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        let faults = Arc::new(Faults::new(None, None).unwrap());
        let spec = RepositorySpec::new(dir.path().join("repo").to_string_lossy());
        let repo = Repository::open_with(&spec, Some(faults.clone())).unwrap();
        Fixture { dir, faults, repo }
    }

    fn write(&self, path: &str, body: &[u8]) {
        let file = self.dir.path().join("repo").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    }

    fn add_set(&self, id: &str) {
        self.write(&format!("sets/{id}/db.dump.zst"), b"dump");
        let mut m = sample(id);
        m.components.retain(|c| c.object == "db.dump.zst");
        self.write(&format!("sets/{id}/manifest.json"), &m.to_json());
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache/index/i.json")
    }

    async fn load(&self, freshness: Freshness) -> (Indexed, u64) {
        let before = self.faults.calls();
        let indexed = load_at(&self.repo, &self.cache(), freshness, None)
            .await
            .unwrap();
        (indexed, self.faults.calls() - before)
    }
}

fn ids(i: &Indexed) -> Vec<String> {
    i.inventory.sets.iter().map(|s| s.id.to_string()).collect()
}

const A: &str = "20261120T020000Z-000a";
const B: &str = "20261121T020000Z-000b";
const C: &str = "20261122T020000Z-000c";

#[tokio::test]
async fn a_warm_full_pass_reads_only_what_changed() {
    let f = Fixture::new();
    f.add_set(A);
    f.add_set(B);
    let (cold, calls) = f.load(Freshness::Full).await;
    assert_eq!(ids(&cold), [B, A]);
    assert!(cold.inventory.sets.iter().all(|s| s.is_complete()));
    assert!(calls >= 3, "a listing and two manifests: {calls}");
    let (warm, calls) = f.load(Freshness::Full).await;
    assert_eq!(ids(&warm), [B, A]);
    assert_eq!(calls, 1, "one listing, no manifest read");
    // A rewritten manifest (another size) is read again; the other is not.
    let mut changed = sample(A);
    changed.components.retain(|c| c.object == "db.dump.zst");
    changed.host = "another-host-with-a-longer-name".into();
    f.write(&format!("sets/{A}/manifest.json"), &changed.to_json());
    let (after, calls) = f.load(Freshness::Full).await;
    assert_eq!(calls, 2, "the listing and the changed manifest");
    let a = after.inventory.sets.iter().find(|s| s.id.as_str() == A);
    assert_eq!(a.unwrap().manifest.as_ref().unwrap().host, changed.host);
}

#[tokio::test]
async fn deleted_sets_disappear_and_new_ones_appear() {
    let f = Fixture::new();
    f.add_set(A);
    f.add_set(B);
    f.load(Freshness::Full).await;
    std::fs::remove_dir_all(f.dir.path().join("repo/sets").join(A)).unwrap();
    f.add_set(C);
    // The newest pass sees C (after the cached newest, B) without listing A's folder.
    let (newest, _) = f.load(Freshness::Newest).await;
    assert_eq!(
        ids(&newest),
        [C, B, A],
        "A's deletion waits for a full pass"
    );
    let (full, _) = f.load(Freshness::Full).await;
    assert_eq!(ids(&full), [C, B]);
    // The newest complete set gone: the newest pass cannot trust the cache, and lists all.
    std::fs::remove_dir_all(f.dir.path().join("repo/sets").join(C)).unwrap();
    let (newest, _) = f.load(Freshness::Newest).await;
    assert_eq!(ids(&newest), [B]);
}

#[tokio::test]
async fn the_newest_pass_is_a_few_calls_and_rereads_incomplete_sets() {
    let f = Fixture::new();
    f.add_set(A);
    f.write(&format!("sets/{B}/db.dump.zst"), b"dump");
    f.load(Freshness::Full).await;
    let (cached, calls) = f.load(Freshness::Cached).await;
    assert_eq!(calls, 0);
    assert_eq!(ids(&cached), [B, A]);
    // B finishes: its manifest arrives in a folder the cache knew as incomplete.
    f.add_set(B);
    let (newest, calls) = f.load(Freshness::Newest).await;
    assert!(newest.inventory.sets.iter().all(|s| s.is_complete()));
    // set folders after B, drills, pins, the newest complete manifest's stat, B's folder and
    // B's manifest
    assert!(calls <= 6, "{calls}");
}

#[tokio::test]
async fn a_corrupt_or_foreign_cache_is_rebuilt() {
    let f = Fixture::new();
    f.add_set(A);
    f.load(Freshness::Full).await;
    for junk in [
        b"{\"format\":1,\"identity\":".to_vec(),
        b"not json at all".to_vec(),
        serde_json::to_vec(&IndexFile {
            format: 1,
            identity: "s3://someone/else".into(),
            sets: vec![CachedSet {
                id: C.into(),
                objects: Vec::new(),
                manifest: Some(sample(C)),
                manifest_error: None,
            }],
            ..Default::default()
        })
        .unwrap(),
    ] {
        std::fs::write(f.cache(), &junk).unwrap();
        // Even the request-free read does not trust it: it is rebuilt from the repository.
        let (rebuilt, calls) = f.load(Freshness::Cached).await;
        assert_eq!(ids(&rebuilt), [A]);
        assert!(calls >= 2, "{calls}");
        let (again, calls) = f.load(Freshness::Cached).await;
        assert_eq!((ids(&again), calls), (vec![A.to_string()], 0));
    }
}

#[tokio::test]
async fn drill_records_are_read_once_and_again_when_changed() {
    let f = Fixture::new();
    f.add_set(A);
    f.write("drills/20261121T030000Z-0001.json", b"not a record");
    let (first, _) = f.load(Freshness::Full).await;
    assert_eq!(first.drill_problems.len(), 1, "{:?}", first.drill_problems);
    assert!(first.newest_drill.is_none());
    let (_, calls) = f.load(Freshness::Full).await;
    assert_eq!(calls, 1, "the unchanged record is not read again");
    f.write("drills/20261121T030000Z-0001.json", b"still not a record!");
    let (_, calls) = f.load(Freshness::Full).await;
    assert_eq!(calls, 2);
}
