//! Unit tests of the pure prune plan: verdicts and floors, garbage and its grace period, what is
//! held back, bytes freed, and the deletion order.

use super::*;
use crate::storage::manifest::tests::sample;
use crate::storage::retention::RetentionConfig;

const OLD: &str = "20261101T020000Z-0001";
const MID: &str = "20261110T020000Z-0002";
const NEW: &str = "20261120T020000Z-0003";
const HALF: &str = "20261115T020000Z-0004";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-11-22T12:00:00Z")
}

fn id(text: &str) -> SetId {
    SetId::parse(text).unwrap()
}

fn object(path: String, size: u64, modified: &str) -> ObjectInfo {
    ObjectInfo {
        path,
        size,
        modified: Some(at(modified)),
    }
}

fn entry(set: &str, names: &[(&str, u64)], modified: &str) -> SetEntry {
    SetEntry {
        id: id(set),
        objects: names
            .iter()
            .map(|(n, size)| object(format!("sets/{set}/{n}"), *size, modified))
            .collect(),
        manifest: None,
        manifest_error: None,
        missing: Vec::new(),
    }
}

/// A complete data set whose snapshot is at the time its id says.
fn complete(set: &str) -> SetEntry {
    let mut e = entry(
        set,
        &[
            ("checksums.sha256", 10),
            ("db.dump.zst.gpg", 1000),
            ("manifest.json", 5),
        ],
        "2026-11-01T00:00:00Z",
    );
    let mut m = sample(set);
    m.snapshot_time = id(set).time();
    e.manifest = Some(m);
    e
}

fn secrets(set: &str, modified: &str) -> SetEntry {
    entry(
        set,
        &[("secrets.tar.gpg", 70), ("manifest.json", 5)],
        modified,
    )
}

fn inventory(repository: &str, sets: Vec<SetEntry>) -> Inventory {
    let mut sets = sets;
    sets.sort_by(|a, b| b.id.cmp(&a.id));
    Inventory {
        repository: repository.into(),
        sets,
        ..Default::default()
    }
}

fn policy(body: &str) -> Policy {
    Policy::from_config(&toml::from_str::<RetentionConfig>(body).unwrap()).unwrap()
}

struct World {
    data: Inventory,
    secrets: Inventory,
    pins: Vec<Pin>,
    verified: HashSet<String>,
    drill: Option<String>,
    spooled: HashSet<String>,
    writer: Option<LockHolder>,
}

impl World {
    fn new(data: Vec<SetEntry>, secrets: Vec<SetEntry>) -> World {
        World {
            data: inventory("file:///repo", data),
            secrets: inventory("file:///secrets", secrets),
            pins: Vec::new(),
            verified: HashSet::new(),
            drill: None,
            spooled: HashSet::new(),
            writer: None,
        }
    }

    fn plan(&self, policy: &Policy) -> PrunePlan {
        assemble(
            policy,
            &Facts {
                data: &self.data,
                secrets: Some(&self.secrets),
                pins: &self.pins,
                verified: &self.verified,
                last_passing_drill: self.drill.as_deref(),
                spooled: &self.spooled,
                writer: self.writer.as_ref(),
                now: now(),
            },
        )
    }
}

fn reasons<'a>(plan: &'a PrunePlan, set: &str) -> &'a [String] {
    &plan.sets.iter().find(|s| s.set_id == set).unwrap().reasons
}

fn held_why<'a>(plan: &'a PrunePlan, name: &str) -> &'a str {
    &plan.held.iter().find(|h| h.name == name).unwrap().why
}

#[test]
fn floors_keep_pinned_verified_and_drilled_sets_and_expired_sets_take_their_secrets() {
    let mut world = World::new(
        vec![complete(OLD), complete(MID), complete(HALF), complete(NEW)],
        vec![
            secrets(OLD, "2026-11-01T00:00:00Z"),
            secrets(HALF, "2026-11-15T00:00:00Z"),
        ],
    );
    world.pins.push(Pin {
        set_id: OLD.into(),
        note: "legal hold".into(),
        by: "ops@db1".into(),
        at: now(),
    });
    world.verified.insert(MID.into());
    let plan = world.plan(&policy("keep_last = 1\nmin_age = \"0s\""));

    assert_eq!(reasons(&plan, NEW), ["last 1/1", "newest"]);
    assert_eq!(reasons(&plan, MID), ["newest verified"]);
    assert_eq!(reasons(&plan, OLD), ["pinned: legal hold"]);
    let expired: Vec<&str> = plan.expired().map(|s| s.set_id.as_str()).collect();
    assert_eq!(expired, [HALF]);
    // HALF's secrets folder goes with it, and is counted against the secrets repository.
    assert_eq!(
        plan.freed,
        Freed {
            data_bytes: 1015,
            secrets_bytes: 75,
            sets: 1,
            garbage: 0
        }
    );
    assert_eq!(plan.policy, "keep_last 1 in UTC, min_age 0s");

    world.drill = Some(HALF.into());
    let plan = world.plan(&policy("keep_last = 1\nmin_age = \"0s\""));
    assert_eq!(reasons(&plan, HALF), ["last passing drill / recovery"]);
    assert_eq!(plan.expired().count(), 0);
    assert_eq!(plan.freed, Freed::default());
}

#[test]
fn old_incomplete_sets_are_garbage_with_their_secrets_young_ones_are_held() {
    let mut half_done = entry(
        HALF,
        &[("db.dump.zst.gpg", 300), ("checksums.sha256", 10)],
        "2026-11-15T02:10:00Z",
    );
    half_done.objects[0].modified = Some(at("2026-11-15T02:05:00Z"));
    let fresh = entry(NEW, &[("db.dump.zst.gpg", 50)], "2026-11-22T11:00:00Z");
    let world = World::new(
        vec![complete(OLD), half_done, fresh],
        vec![secrets(HALF, "2026-11-15T02:00:00Z")],
    );
    let plan = world.plan(&policy("daily = 7"));

    assert_eq!(plan.garbage.len(), 1);
    let g = &plan.garbage[0];
    assert_eq!(
        (g.kind, g.name.as_str()),
        (GarbageKind::IncompleteSet, HALF)
    );
    assert_eq!(g.newest_object, Some(at("2026-11-15T02:10:00Z")));
    assert_eq!((g.data_bytes, g.secrets_bytes), (310, 75));
    assert!(held_why(&plan, NEW).contains("grace period"), "{plan:#?}");
    assert_eq!(plan.grace_seconds, 24 * 3600);
    assert_eq!(plan.freed.garbage, 1);
    // Only complete sets count: the incomplete ones neither occupy nor free a bucket.
    assert_eq!(reasons(&plan, OLD), ["daily 1/7", "newest"]);
}

#[test]
fn spooled_sets_running_writers_and_unusable_manifests_are_never_garbage() {
    let mut damaged = complete(MID);
    damaged.manifest = None;
    damaged.manifest_error = Some("manifest format 2 is not 1; upgrade lifeboat".into());
    let mut world = World::new(
        vec![
            complete(OLD),
            damaged,
            entry(HALF, &[("db.dump.zst.gpg", 9)], "2026-11-15T03:00:00Z"),
        ],
        vec![secrets(NEW, "2026-11-20T02:00:00Z")],
    );
    world.spooled.insert(NEW.into());
    world.writer = Some(LockHolder {
        host: "db1".into(),
        pid: 42,
        started_at: at("2026-11-15T02:00:30Z"),
        purpose: "backup".into(),
    });
    let plan = world.plan(&policy("keep_last = 5"));

    assert!(plan.garbage.is_empty(), "{:#?}", plan.garbage);
    assert!(held_why(&plan, MID).contains("upgrade lifeboat"));
    assert!(held_why(&plan, HALF).contains("being written by backup (pid 42"));
    assert!(held_why(&plan, NEW).contains("spool"));
    assert_eq!(plan.lock_holder.as_ref().map(|h| h.pid), Some(42));

    // Without the spool and the writer, both are plain garbage: an orphaned secrets folder
    // (no data folder at all) and an old incomplete set.
    world.spooled.clear();
    world.writer = None;
    let plan = world.plan(&policy("keep_last = 5"));
    let kinds: Vec<(GarbageKind, &str)> = plan
        .garbage
        .iter()
        .map(|g| (g.kind, g.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (GarbageKind::IncompleteSet, HALF),
            (GarbageKind::OrphanSecrets, NEW)
        ]
    );
}

#[test]
fn min_age_stretches_the_grace_period() {
    let world = World::new(
        vec![
            complete(NEW),
            entry(OLD, &[("db.dump.zst.gpg", 9)], "2026-11-01T02:00:00Z"),
        ],
        vec![],
    );
    let plan = world.plan(&policy("keep_last = 1\nmin_age = \"30days\""));
    assert!(plan.garbage.is_empty());
    assert!(held_why(&plan, OLD).contains("30days grace period"));
}

#[test]
fn strays_under_sets_are_garbage_others_are_left_alone() {
    let mut world = World::new(vec![complete(NEW)], vec![]);
    world.data.strays = vec![
        object("old/app-2026.sql.gz".into(), 7, "2026-01-01T00:00:00Z"),
        object("sets/junk/x".into(), 3, "2026-01-01T00:00:00Z"),
        object(format!("sets/{NEW}/extra/y"), 4, "2026-01-01T00:00:00Z"),
        object("sets/junk/fresh".into(), 5, "2026-11-22T11:59:00Z"),
    ];
    let plan = world.plan(&policy("keep_last = 1"));
    let garbage: Vec<&str> = plan.garbage.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(garbage, ["sets/junk/x"]);
    assert_eq!(plan.garbage[0].kind, GarbageKind::Stray);
    assert!(held_why(&plan, "old/app-2026.sql.gz").contains("outside sets/"));
    assert!(held_why(&plan, &format!("sets/{NEW}/extra/y")).contains(NEW));
    assert!(held_why(&plan, "sets/junk/fresh").contains("grace"));
}

#[test]
fn pins_for_missing_sets_are_noted() {
    let mut world = World::new(vec![complete(NEW)], vec![]);
    world.pins.push(Pin {
        set_id: OLD.into(),
        note: "gone already".into(),
        by: "ops@db1".into(),
        at: now(),
    });
    let plan = world.plan(&policy("keep_last = 1"));
    assert_eq!(plan.notes.len(), 1);
    assert!(plan.notes[0].contains(&format!("lifeboat unpin {OLD}")));
}

#[test]
fn manifests_go_first_data_before_secrets_then_the_rest() {
    let plan = World::new(
        vec![complete(OLD), complete(NEW)],
        vec![secrets(OLD, "2026-11-01T00:00:00Z")],
    )
    .plan(&policy("keep_last = 1\nmin_age = \"0s\""));
    let set = plan.expired().next().unwrap();
    let order: Vec<(Role, &str)> = deletion_order(&set.objects)
        .into_iter()
        .map(|o| (o.role, o.path.rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            (Role::Data, "manifest.json"),
            (Role::Secrets, "manifest.json"),
            (Role::Data, "checksums.sha256"),
            (Role::Data, "db.dump.zst.gpg"),
            (Role::Secrets, "secrets.tar.gpg"),
        ]
    );
}

#[test]
fn the_policy_is_described_in_config_words() {
    let p = policy(
        "keep_last = 3\nhourly = 24\ndaily = 7\nweekly = 4\nmonthly = 12\nyearly = 4\ntimezone = \"Europe/Bucharest\"",
    );
    assert_eq!(
        describe(&p),
        "keep_last 3, hourly 24, daily 7, weekly 4, monthly 12, yearly 4 in Europe/Bucharest, min_age 1h"
    );
}

#[test]
fn verified_means_the_latest_verification_in_this_repository_passed() {
    use crate::storage::journal::{VerificationRecord, VerifyLevel};
    let v = |set: &str, repository: &str, ok: bool| VerificationRecord {
        set_id: set.into(),
        at: now(),
        level: VerifyLevel::Stored,
        ok,
        repository: repository.into(),
        problems: Vec::new(),
        initiator: None,
    };
    let journal = [
        v(OLD, "file:///repo", true),
        v(MID, "file:///repo", true),
        v(MID, "file:///repo", false),
        v(NEW, "file:///other", true),
        v(HALF, "file:///repo", false),
        v(HALF, "file:///repo", true),
    ];
    let mut got: Vec<String> = verified_sets(&journal, "file:///repo")
        .into_iter()
        .collect();
    got.sort();
    assert_eq!(got, [OLD, HALF]);
}
