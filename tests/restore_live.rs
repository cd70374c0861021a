//! Restores into a live database that has what real applications have: partitioned tables
//! whose primary keys the partitions inherit, foreign keys between them, indexes, and roles
//! that own objects or receive grants. Real PostgreSQL, real gpg.
//!
//! - `restore --yes` completes, brings back exactly the set (owners and grants included),
//!   keeps the live database's own settings and comment, and disconnects sessions at the swap.
//! - A restore that fails inside pg_restore leaves the target exactly as it was (a sorted
//!   pg_dump before and after is equal), and the "to go back" command printed on a failure
//!   after the swap brings the previous state back.
//! - The dry run lists the owners and grantees a server lacks, whether or not the target
//!   database exists; the restore refuses before touching anything unless `--create-roles`,
//!   which creates them (with the recorded LOGIN attribute) and keeps the owners.
//! - A drill fails where the real restore would: a dump that cannot restore, and a server
//!   that lacks the dump's roles.

mod common;

use common::app::{AppOptions, TestApp};
use common::forge::{copy_set, replace_db_object};
use common::{describe, text};
use lifeboat::storage::pg_cluster::{ClusterOptions, EphemeralCluster};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a session connected to the target may take to notice it was terminated.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Roles, a schema they own, partitioned tables with inherited primary keys, a foreign key
/// between partitioned tables, indexes, grants and data.
const LIVE_SQL: &str = r#"
CREATE ROLE shop_owner NOLOGIN;
CREATE ROLE shop_reader LOGIN CONNECTION LIMIT 7;
CREATE ROLE shop_writer NOLOGIN;
CREATE SCHEMA shop AUTHORIZATION shop_owner;
CREATE TABLE shop.orders (
    id bigint NOT NULL,
    placed date NOT NULL,
    customer_id int NOT NULL REFERENCES public."User"(id),
    total int NOT NULL,
    PRIMARY KEY (id, placed)
) PARTITION BY RANGE (placed);
CREATE TABLE shop.orders_2025 PARTITION OF shop.orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.orders_2026 PARTITION OF shop.orders FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE shop.order_lines (
    order_id bigint NOT NULL,
    placed date NOT NULL,
    line int NOT NULL,
    sku text NOT NULL,
    PRIMARY KEY (order_id, placed, line),
    FOREIGN KEY (order_id, placed) REFERENCES shop.orders (id, placed)
) PARTITION BY RANGE (placed);
CREATE TABLE shop.order_lines_2025 PARTITION OF shop.order_lines FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.order_lines_2026 PARTITION OF shop.order_lines FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE INDEX order_lines_sku ON shop.order_lines (sku);
ALTER TABLE shop.orders OWNER TO shop_owner;
ALTER TABLE shop.orders_2025 OWNER TO shop_owner;
ALTER TABLE shop.orders_2026 OWNER TO shop_owner;
ALTER TABLE shop.order_lines OWNER TO shop_owner;
ALTER TABLE shop.order_lines_2025 OWNER TO shop_owner;
ALTER TABLE shop.order_lines_2026 OWNER TO shop_owner;
GRANT USAGE ON SCHEMA shop TO shop_reader, shop_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA shop TO shop_reader;
GRANT INSERT, UPDATE ON shop.orders TO shop_writer;
INSERT INTO shop.orders
    SELECT g, DATE '2025-06-01' + (g % 400), 1 + g % 2000, g * 7 FROM generate_series(1, 4000) g;
INSERT INTO shop.order_lines
    SELECT o.id, o.placed, l, 'sku-' || (o.id * l) % 97 FROM shop.orders o, generate_series(1, 3) l;
"#;

fn live_app() -> TestApp {
    let app = TestApp::new(AppOptions::default());
    app.psql(LIVE_SQL);
    app
}

fn assert_exit(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: unexpected exit\n{}",
        describe(out)
    );
}

/// `pg_dump` of a database as plain SQL (schema, owners, grants and data), lines sorted.
fn full_dump(app: &TestApp, url: &str) -> Vec<String> {
    let out = Command::new(app.pg_program("pg_dump"))
        .args(["--no-password", "-d", url])
        .stdin(Stdio::null())
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", describe(&out));
    let mut lines: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .map(str::to_string)
        .collect();
    lines.sort();
    assert!(
        lines.iter().any(|l| l.contains("shop.orders")),
        "the dump holds the shop"
    );
    lines
}

/// Databases whose names the swap uses.
fn swap_leftovers(app: &TestApp) -> String {
    app.psql_db(
        "postgres",
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE '%\\_lifeboat\\_%'",
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{}", describe(out)))
}

/// The command after "to go back: lifeboat " in a failure message, as arguments.
fn go_back_command(stderr: &str) -> Vec<String> {
    let rest = stderr
        .split("to go back: lifeboat ")
        .nth(1)
        .unwrap_or_else(|| panic!("no \"to go back\" command in:\n{stderr}"));
    let command = rest.split([';', '\n']).next().unwrap_or_default();
    command.split_whitespace().map(str::to_string).collect()
}

fn config_with(app: &TestApp, extra: &str) {
    app.write_raw_config(&format!("{}\n{extra}", app.config_text()));
}

#[test]
fn a_live_restore_completes_keeps_owners_and_the_databases_own_settings() {
    let app = live_app();
    let at_backup = full_dump(&app, &app.url());
    let set = app.backup();

    // The set records the roles that own objects or receive grants, with their attributes.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&set).join("manifest.json")).expect("read manifest"),
    )
    .expect("manifest.json");
    let roles = manifest["source"]["roles"]
        .as_array()
        .unwrap_or_else(|| panic!("the manifest records roles: {manifest:#}"));
    let role = |name: &str| {
        roles
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} recorded: {roles:#?}"))
            .clone()
    };
    assert_eq!(role("shop_reader")["login"], true);
    assert_eq!(role("shop_reader")["connection_limit"], 7);
    assert_eq!(role("shop_owner")["login"], false);
    role("shop_writer");
    assert!(
        !text(&std::fs::read(app.set_dir_local(&set).join("manifest.json")).unwrap())
            .contains("password")
    );

    // The application moves on; the database gets settings and a comment of its own, which a
    // dump made without --create does not carry.
    app.psql("DELETE FROM shop.order_lines WHERE order_id % 5 = 0");
    app.psql("DELETE FROM shop.orders WHERE id % 5 = 0");
    app.psql("CREATE TABLE shop.orders_2027 PARTITION OF shop.orders FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')");
    app.psql("DROP INDEX shop.order_lines_sku");
    app.psql("ALTER DATABASE app SET work_mem = '7MB'");
    app.psql("ALTER DATABASE app SET search_path = \"$user\", public, shop");
    app.psql("COMMENT ON DATABASE app IS 'the shop''s database'");
    app.psql("GRANT CONNECT ON DATABASE app TO shop_reader");
    assert_ne!(full_dump(&app, &app.url()), at_backup);

    // A session stays connected to the target: the swap must disconnect it.
    let mut session = Command::new(app.pg_program("psql"))
        .args(["-X", "-q", "-d", &app.url(), "-c", "SELECT pg_sleep(600)"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a psql session");
    let deadline = Instant::now() + DISCONNECT_TIMEOUT;
    while app.psql_db(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
    ) != "1"
    {
        assert!(Instant::now() < deadline, "the session never connected");
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = app.lifeboat(&["restore", &set, "--yes", "--no-safety-backup", "--json"]);
    assert_exit("restore --yes", &out, 0);
    let outcome = json(&out);
    assert_eq!(
        full_dump(&app, &app.url()),
        at_backup,
        "the restored database (schema, owners, grants, data) differs from the set"
    );
    assert_eq!(
        app.psql("SELECT tableowner FROM pg_tables WHERE schemaname = 'shop' AND tablename = 'orders_2025'"),
        "shop_owner"
    );
    assert_eq!(
        app.psql("SELECT array_to_string(setconfig, '|') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'app' AND s.setrole = 0"),
        "work_mem=7MB|search_path=\"$user\", public, shop"
    );
    assert_eq!(
        app.psql(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'app'"
        ),
        "the shop's database"
    );
    assert_eq!(
        app.psql("SELECT has_database_privilege('shop_reader', 'app', 'CONNECT')"),
        "t"
    );
    let steps: Vec<String> = outcome["steps_done"]
        .as_array()
        .expect("steps_done")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect();
    assert!(
        steps.iter().any(|s| s.contains("owners kept")),
        "{steps:#?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("previous database app_lifeboat_old_") && s.ends_with("dropped")),
        "{steps:#?}"
    );
    assert_eq!(swap_leftovers(&app), "", "no swap database is left behind");
    let deadline = Instant::now() + DISCONNECT_TIMEOUT;
    loop {
        if session.try_wait().expect("poll psql").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = session.kill();
            let _ = session.wait();
            panic!("the session connected to the target was not disconnected at the swap");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A copy of `set` whose dump is the application's current database with one integer in the
/// table data made invalid: `pg_restore --list` reads it, pg_restore fails midway through the
/// data.
fn forge_failing_set(app: &TestApp, set: &str) -> String {
    app.psql("INSERT INTO shop.orders VALUES (987654321, '2025-03-03', 1, 987654321)");
    let out = Command::new(app.pg_program("pg_dump"))
        .args([
            "--no-password",
            "--format=custom",
            "--compress=0",
            "-d",
            &app.url(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", describe(&out));
    let mut dump = out.stdout;
    let marker = b"\t987654321\n";
    let at = dump
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the marker is in the table data");
    dump[at + marker.len() - 2] = b'x';
    let forged = format!("{}-0bad", set.split('-').next().expect("set time"));
    copy_set(app, set, &forged);
    replace_db_object(app, &forged, &dump);
    forged
}

#[test]
fn a_failed_restore_leaves_the_target_as_it_was_and_the_go_back_command_works() {
    let app = live_app();
    let set = app.backup();
    let forged = forge_failing_set(&app, &set);
    app.psql("UPDATE shop.orders SET total = total + 1 WHERE id % 3 = 0");
    app.psql("ALTER DATABASE app SET work_mem = '5MB'");
    let before = full_dump(&app, &app.url());

    // The dry run reads the forged dump's table of contents and sees nothing wrong.
    let (code, plan) = app.lifeboat_json(&["restore", &forged, "--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");

    // (a) pg_restore fails midway: the target is exactly as it was, no swap database is left.
    let out = app.lifeboat(&["restore", &forged, "--yes", "--jobs", "2"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("98765432x") && stderr.contains("was not touched"),
        "{stderr}"
    );
    assert!(stderr.contains("was dropped"), "{stderr}");
    assert_eq!(full_dump(&app, &app.url()), before, "the target changed");
    assert_eq!(swap_leftovers(&app), "");
    assert_eq!(
        app.psql("SELECT array_to_string(setconfig, '|') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'app'"),
        "work_mem=5MB"
    );

    // (b) A failure after the swap (a post-restore hook): the database is the set's now, the
    // previous one is kept, and the printed command brings the previous state back.
    config_with(&app, "[restore]\npost_restore = [\"exit 3\"]\n");
    let out = app.lifeboat(&["restore", &set, "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the previous database is kept as app_lifeboat_old_"),
        "{stderr}"
    );
    assert_ne!(full_dump(&app, &app.url()), before);
    let back = go_back_command(&stderr);
    assert_eq!(
        back.first().map(String::as_str),
        Some("restore"),
        "{back:?}"
    );
    // The operator fixes the hook, then runs exactly what was printed.
    app.write_config();
    let args: Vec<&str> = back.iter().map(String::as_str).collect();
    let out = app.lifeboat(&args);
    assert_exit("the printed go-back command", &out, 0);
    assert_eq!(
        full_dump(&app, &app.url()),
        before,
        "going back did not bring the previous state back"
    );

    // The old copy of the failed restore is still there, and the next plan says so.
    let kept = swap_leftovers(&app);
    assert!(kept.starts_with("app_lifeboat_old_"), "{kept}");
    let (code, plan) = app.lifeboat_json(&["restore", &set, "--dry-run"]);
    assert_eq!(code, 0, "{plan:#}");
    let swap = check_detail(&plan, "database swap");
    assert!(
        swap.contains(&format!("left by an earlier restore: {kept}")),
        "{swap}"
    );

    // A swap killed between refusing connections and the rename leaves the target refusing
    // them: the plan says so and how to let the application back in.
    app.psql_db("postgres", "ALTER DATABASE app ALLOW_CONNECTIONS false");
    let (_, plan) = app.lifeboat_json(&["restore", &set, "--dry-run"]);
    let swap = check_detail(&plan, "database swap");
    assert!(
        swap.contains("refuses connections") && swap.contains("ALLOW_CONNECTIONS true"),
        "{swap}"
    );
}

/// A second server: none of the shop's roles exist there.
fn other_server() -> EphemeralCluster {
    EphemeralCluster::start(ClusterOptions::default())
        .unwrap_or_else(|e| panic!("start a second PostgreSQL cluster: {e}"))
}

fn missing_roles(plan: &Value) -> Vec<String> {
    plan["toc"]["missing_roles"]
        .as_array()
        .unwrap_or_else(|| panic!("missing_roles: {plan:#}"))
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

fn check_detail(plan: &Value, name: &str) -> String {
    plan["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["detail"].as_str())
        .unwrap_or_else(|| panic!("no {name} check: {plan:#}"))
        .to_string()
}

#[test]
fn missing_owners_and_grantees_are_listed_and_created_on_request() {
    let app = live_app();
    let set = app.backup();
    let other = other_server();
    let url = other.url("app");
    let expected = vec!["shop_owner", "shop_reader", "shop_writer"];

    // The target database does not exist on the other server.
    let (code, plan) = app.lifeboat_json(&["restore", &set, "--target-url", &url, "--dry-run"]);
    assert_ne!(code, 0, "missing grantees fail the plan: {plan:#}");
    assert_eq!(missing_roles(&plan), expected, "{plan:#}");
    assert!(check_detail(&plan, "target database").starts_with("does not exist"));
    assert!(
        check_detail(&plan, "roles").contains("--create-roles"),
        "{plan:#}"
    );

    // It exists (empty).
    other.create_database("app").expect("create app");
    let (code, plan) = app.lifeboat_json(&["restore", &set, "--target-url", &url, "--dry-run"]);
    assert_ne!(code, 0, "{plan:#}");
    assert_eq!(missing_roles(&plan), expected, "{plan:#}");
    assert!(check_detail(&plan, "target database").starts_with("exists"));
    let (code, plan) = app.lifeboat_json(&[
        "restore",
        &set,
        "--target-url",
        &url,
        "--create-roles",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{plan:#}");
    assert!(
        plan["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["step"].as_str().is_some_and(
                |s| s.contains("CREATE ROLE \"shop_reader\" WITH LOGIN CONNECTION LIMIT 7")
            )),
        "{plan:#}"
    );

    // Without --create-roles the real restore refuses before touching anything.
    let files = app.root().join("elsewhere");
    let files = files.to_str().expect("UTF-8 path");
    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            &set,
            "--target-url",
            &url,
            "--files-to",
            files,
            "--secrets-to",
            files,
            "--yes",
            "--no-safety-backup",
        ];
        args.extend_from_slice(extra);
        app.lifeboat(&args)
    };
    let out = restore(&[]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("shop_reader"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        other
            .psql(
                "app",
                "SELECT count(*) FROM pg_class WHERE relname = 'orders'"
            )
            .expect("psql"),
        "0"
    );

    // With it: the roles exist with their recorded attributes and own what they owned.
    let out = restore(&["--create-roles"]);
    assert_exit("restore --create-roles", &out, 0);
    let q = |sql: &str| other.psql("app", sql).expect("psql on the other server");
    assert_eq!(
        q("SELECT string_agg(rolname || ':' || rolcanlogin || ':' || rolconnlimit, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'shop\\_%'"),
        "shop_owner:false:-1,shop_reader:true:7,shop_writer:false:-1"
    );
    assert_eq!(
        q("SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'shop'"),
        "shop_owner"
    );
    assert_eq!(
        q("SELECT has_table_privilege('shop_reader', 'shop.order_lines', 'SELECT') AND has_table_privilege('shop_writer', 'shop.orders', 'UPDATE')"),
        "t"
    );
    assert_eq!(full_dump(&app, &url), full_dump(&app, &app.url()));
}

#[test]
fn a_drill_fails_where_the_real_restore_would() {
    let app = live_app();
    let set = app.backup();
    let forged = forge_failing_set(&app, &set);

    // A dump that cannot restore fails the drill, as it fails the restore.
    let out = app.lifeboat(&["drill", &forged, "--json"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let record = json(&out);
    assert_eq!(record["passed"], false, "{record:#}");
    assert!(record.to_string().contains("98765432x"), "{record:#}");

    // A server that lacks the dump's grantees fails the drill as it refuses the restore.
    let other = other_server();
    config_with(
        &app,
        &format!(
            "[drill]\nserver_url = {}\n",
            serde_json::to_string(&other.url("postgres")).expect("a string")
        ),
    );
    let out = app.lifeboat(&["drill", &set, "--json"]);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let record = json(&out);
    assert!(
        record.to_string().contains("shop_reader") && record.to_string().contains("--create-roles"),
        "{record:#}"
    );

    // In its own throwaway cluster the drill creates the roles and passes.
    app.write_config();
    let out = app.lifeboat(&["drill", &set, "--json"]);
    assert_exit("drill in an ephemeral cluster", &out, 0);
    assert_eq!(json(&out)["passed"], true);
}

#[test]
fn the_dry_run_names_the_privileges_the_swap_needs_and_an_ownership_change_is_loud() {
    let app = live_app();
    let set = app.backup();
    let rows = app.data_dump();
    app.psql("CREATE ROLE deployer LOGIN");
    let url = app.url().replacen("postgres@", "deployer@", 1);
    assert_ne!(url, app.url(), "the test URL names its user");
    let dry_run = || app.lifeboat_json(&["restore", &set, "--target-url", &url, "--dry-run"]);

    let (code, plan) = dry_run();
    assert_ne!(code, 0, "{plan:#}");
    let swap = check_detail(&plan, "database swap");
    assert!(
        swap.contains("lacks CREATEDB") && swap.contains("ALTER ROLE"),
        "{swap}"
    );

    app.psql("ALTER ROLE deployer CREATEDB");
    let (code, plan) = dry_run();
    assert_ne!(code, 0, "{plan:#}");
    let swap = check_detail(&plan, "database swap");
    assert!(swap.contains("does not own the database app"), "{swap}");

    app.psql_db("postgres", "ALTER DATABASE app OWNER TO deployer");
    let (code, plan) = dry_run();
    assert_eq!(code, 0, "{plan:#}");
    let roles = check_detail(&plan, "roles");
    assert!(
        roles.contains("OWNERSHIP CHANGES") && roles.contains("owned by deployer"),
        "{roles}"
    );

    // The restore goes through and says, in its outcome, to whom ownership went.
    let out = app.lifeboat(&[
        "restore",
        &set,
        "--target-url",
        &url,
        "--no-safety-backup",
        "--yes",
        "--json",
    ]);
    assert_exit("restore as deployer", &out, 0);
    let outcome = json(&out);
    assert!(
        outcome["steps_done"]
            .as_array()
            .expect("steps_done")
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.contains("OWNERSHIP CHANGES"))),
        "{outcome:#}"
    );
    assert_eq!(
        app.psql(
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'shop'"
        ),
        "deployer"
    );
    assert!(app.data_dump() == rows, "the rows differ from the set's");
}
