//! Multipart uploads that a killed run leaves open (issue 12, point 10): `inventory` lists
//! them, and the next backup (or prune), holding the repository lock, aborts those of this
//! host's dead runs, while an upload this host cannot attribute (another host's, maybe live)
//! is left alone. On `moto` (which implements ListMultipartUploads) and on s3s-fs (which does
//! not: inventory says so, backups go on).

mod common;

use std::os::unix::process::CommandExt;
use std::process::Output;
use std::time::{Duration, Instant};

use common::app::{AppOptions, Enc, RepoKind, TestApp};

const MIB: u64 = 1024 * 1024;
/// The data repository's prefix in the bucket (`common::app::S3_PREFIX`).
const PREFIX: &str = "app";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}:\n{}", text(out));
}

fn options() -> AppOptions {
    AppOptions {
        repo: RepoKind::S3,
        encryption: Enc::Passphrase,
        secrets: false,
    }
}

/// SIGKILLs a `lifeboat backup` while one of its objects is a multipart upload in progress
/// (seen through ListMultipartUploads); returns that upload as (key, upload id).
fn kill_backup_mid_upload(app: &TestApp) -> (String, String) {
    let s3 = app.s3().expect("an S3 app");
    let mut child = app
        .command(&["backup"])
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn lifeboat backup");
    let deadline = Instant::now() + Duration::from_secs(120);
    let open = loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the backup ended ({status}) before an upload was seen open");
        }
        let open = s3.open_uploads();
        if !open.is_empty() {
            break open;
        }
        assert!(Instant::now() < deadline, "no multipart upload began");
        std::thread::sleep(Duration::from_millis(20));
    };
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling the process group this test created (pgid == the child's pid).
    assert_eq!(
        unsafe { libc::kill(-pid, libc::SIGKILL) },
        0,
        "kill the backup"
    );
    child.wait().expect("wait for the killed backup");
    let still = s3.open_uploads();
    let upload = open
        .into_iter()
        .find(|u| still.contains(u))
        .unwrap_or_else(|| panic!("the upload completed before the kill; open now: {still:?}"));
    assert!(
        upload.0.starts_with(&format!("{PREFIX}/sets/")),
        "{upload:?}"
    );
    upload
}

#[test]
fn a_killed_runs_upload_is_listed_by_inventory_and_aborted_by_the_next_backup() {
    let app = TestApp::on_moto(options());
    let s3 = app.s3().expect("moto");
    // Incompressible and well past one 5 MiB part: files.tar.zst goes up in parts for a while.
    app.add_bulk_files(6, 8 * MIB);
    let (key, upload_id) = kill_backup_mid_upload(&app);
    let path = key
        .strip_prefix(&format!("{PREFIX}/"))
        .expect("under the prefix");

    // Another host's upload, of a set begun a minute ago: nothing here says its writer is dead
    // (moto reports every upload as initiated in 2010; the set id's time keeps it).
    let set_at = |ago: chrono::Duration| {
        (chrono::Utc::now() - ago)
            .format("%Y%m%dT%H%M%SZ-0f0f")
            .to_string()
    };
    let foreign_key = format!(
        "{PREFIX}/sets/{}/files.tar.zst",
        set_at(chrono::Duration::minutes(1))
    );
    let foreign_id = s3.initiate_upload(&foreign_key);
    // Another host's upload of a set two days old: no backup runs that long.
    let stale_key = format!(
        "{PREFIX}/sets/{}/files.tar.zst",
        set_at(chrono::Duration::days(2))
    );
    let stale_id = s3.initiate_upload(&stale_key);
    // Outside the repository prefix: not this repository's business at all.
    let outside_id = s3.initiate_upload("elsewhere/big.bin");

    let out = app.lifeboat(&["inventory"]);
    assert_ok(&out, "inventory");
    let said = text(&out);
    for (what, id) in [
        ("killed", &upload_id),
        ("foreign", &foreign_id),
        ("stale", &stale_id),
    ] {
        assert!(
            said.lines()
                .any(|l| l.starts_with("open multipart upload") && l.contains(id.as_str())),
            "inventory does not list the {what} upload {id}:\n{said}"
        );
    }
    assert!(said.contains(&format!("`{path}`")), "{said}");
    assert!(!said.contains(&outside_id), "{said}");
    let (code, json) = app.lifeboat_json(&["inventory"]);
    assert_eq!(code, 0, "{json:#}");
    let listed = json["open_multipart_uploads"].as_array().expect("listed");
    assert!(
        listed
            .iter()
            .any(|u| u["upload_id"] == upload_id.as_str() && u["path"] == path),
        "{json:#}"
    );

    let out = app.lifeboat(&["backup"]);
    assert_ok(&out, "the backup after the kill");
    let said = text(&out);
    assert!(
        said.lines()
            .any(|l| l.contains("aborted the multipart upload") && l.contains(&upload_id)),
        "the backup does not say it aborted {upload_id}:\n{said}"
    );
    assert!(!said.contains(&foreign_id), "{said}");
    assert!(
        said.lines()
            .any(|l| l.contains("aborted the multipart upload") && l.contains(&stale_id)),
        "the backup does not say it aborted the stale {stale_id}:\n{said}"
    );

    let open: Vec<String> = s3.open_uploads().into_iter().map(|(_, id)| id).collect();
    assert!(!open.contains(&upload_id), "still open: {open:?}");
    assert!(!open.contains(&stale_id), "still open: {open:?}");
    assert!(open.contains(&foreign_id), "the foreign upload was aborted");
    assert!(
        open.contains(&outside_id),
        "an upload outside the prefix was aborted"
    );
    let out = app.lifeboat(&["inventory"]);
    assert_ok(&out, "inventory after the backup");
    let said = text(&out);
    assert!(!said.contains(&upload_id), "{said}");
    assert!(said.contains(&foreign_id), "{said}");
}

/// Prune, holding the lock, aborts an upload left open under a set of this host's journal.
#[test]
fn prune_aborts_an_upload_left_by_a_dead_run_of_this_host() {
    let app = TestApp::on_moto(options());
    let s3 = app.s3().expect("moto");
    let mut config = app.config_text();
    config.push_str("\n[retention]\nkeep_last = 5\n");
    app.write_raw_config(&config);
    let set = app.backup();
    let key = format!("{PREFIX}/sets/{set}/files.tar.zst");
    let upload_id = s3.initiate_upload(&key);
    let out = app.lifeboat(&["prune", "--yes"]);
    assert_ok(&out, "prune --yes");
    let said = text(&out);
    assert!(
        said.lines()
            .any(|l| l.contains("aborted the multipart upload") && l.contains(&upload_id)),
        "prune does not say it aborted {upload_id}:\n{said}"
    );
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
}

/// s3s-fs cannot list open uploads: inventory says so in one line (and in its JSON), and a
/// backup is not bothered.
#[test]
fn on_a_server_that_cannot_list_uploads_inventory_says_so_and_backups_go_on() {
    let app = TestApp::new(options());
    app.backup();
    let out = app.lifeboat(&["inventory"]);
    assert_ok(&out, "inventory");
    let said = text(&out);
    let note = "the server does not list open multipart uploads: set a lifecycle rule AbortIncompleteMultipartUpload";
    assert_eq!(
        said.lines().filter(|l| *l == note).count(),
        1,
        "inventory on s3s-fs:\n{said}"
    );
    let (code, json) = app.lifeboat_json(&["inventory"]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["open_multipart_uploads_note"], note, "{json:#}");
    assert!(json["open_multipart_uploads"].is_null(), "{json:#}");
    let out = app.lifeboat(&["backup"]);
    assert_ok(&out, "a second backup");
    assert!(
        !text(&out).contains("multipart"),
        "the backup warns about what it cannot list:\n{}",
        text(&out)
    );
}
