//! Connection strings through every path that rewrites them, against a real PostgreSQL: the
//! source database, the restore target with its new and old swap databases, a restore into a
//! database that does not exist yet, the drill's scratch database and the maintenance database
//! `postgres` behind them all. The database names hold what breaks hand-made escaping (`'`,
//! `\`, spaces, `%`, non-ASCII), written both as a URL (percent-encoded) and as keywords
//! (quoted, backslash-escaped, with a password to take out). Each path must reach the database
//! meant: a marker table with a row count no other database has says which one was reached.

mod common;

use common::app::{AppOptions, TestApp};
use common::describe;
use lifeboat::storage::pg::conninfo::percent_encode;
use serde_json::Value;

/// The source: every character libpq escaping can get wrong.
const SOURCE_DB: &str = "café 'q' \\b 100% x";
/// A restore target that does not exist until the restore creates it.
const NEW_DB: &str = "new ü 'n' \\ 50%";
/// Rows of the marker table in the source at backup time.
const MARKER_ROWS: u64 = 7;

/// `name` as a keyword/value value: quoted, `\` and `'` escaped.
fn keyword_quoted(name: &str) -> String {
    format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One way of writing the connection strings.
struct Form {
    what: &'static str,
    to: fn(port: u16, db: &str) -> String,
}

const FORMS: [Form; 2] = [
    Form {
        what: "URL",
        to: |port, db| {
            format!(
                "postgresql://postgres:pa%27ss%5Cw%25rd@127.0.0.1:{port}/{}?application_name=lifeboat%20test",
                percent_encode(db, &[])
            )
        },
    },
    Form {
        what: "keywords",
        to: |port, db| {
            format!(
                "host = 127.0.0.1 port={port} user=postgres password='pa\\'ss\\\\w%rd' dbname = {} application_name='lifeboat test'",
                keyword_quoted(db)
            )
        },
    },
];

fn marker_rows(app: &TestApp, db: &str) -> String {
    app.cluster()
        .psql(db, "SELECT count(*) FROM marker")
        .unwrap_or_else(|e| panic!("count the marker rows in {db}: {e}"))
}

fn databases_like(app: &TestApp, pattern: &str) -> String {
    app.psql_db(
        "postgres",
        &format!(
            "SELECT string_agg(datname, ', ') FROM pg_database WHERE datname LIKE '{pattern}'"
        ),
    )
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", describe(out)))
}

fn assert_ok(what: &str, out: &std::process::Output) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", describe(out));
}

/// The app's configuration with `database_url`, the marker as the only key table, and a drill
/// on `drill_server`.
fn configure(app: &TestApp, database_url: &str, drill_server: &str) {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string");
    let text: Vec<String> = app
        .config_text()
        .lines()
        .map(|line| {
            if line.starts_with("database_url = ") {
                format!("database_url = {}", quoted(database_url))
            } else if line.starts_with("key_tables = ") {
                "key_tables = [\"marker\"]".to_string()
            } else {
                line.to_string()
            }
        })
        .collect();
    app.write_raw_config(&format!(
        "{}\n\n[drill]\nserver_url = {}\nrto_target = \"10m\"\nrpo_target = \"48h\"\n",
        text.join("\n"),
        quoted(drill_server)
    ));
}

#[test]
fn awkward_database_names_reach_the_same_database_through_every_rewrite() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let cluster = app.cluster();
    let port = cluster.port();
    cluster
        .create_database(SOURCE_DB)
        .expect("create the source");
    cluster
        .psql(
            SOURCE_DB,
            &format!(
                "CREATE TABLE marker (id int PRIMARY KEY, note text); \
                 INSERT INTO marker SELECT g, 'source' FROM generate_series(1, {MARKER_ROWS}) g; \
                 CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS note \
                 FROM generate_series(1, 500) g"
            ),
        )
        .expect("fill the source");
    for form in &FORMS {
        let what = form.what;
        let source = (form.to)(port, SOURCE_DB);
        // The drill's server names the maintenance database: the scratch database's name
        // comes from the source's, rewritten into this string.
        let server = (form.to)(port, "postgres");
        configure(&app, &source, &server);

        // The source: the backup counted the marker in the database named.
        let backup = app.lifeboat(&["backup", "--json"]);
        assert_ok(&format!("{what}: backup"), &backup);
        let set = json(&backup)["set_id"]
            .as_str()
            .expect("set id")
            .to_string();
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(app.set_dir_local(&set).join("manifest.json")).expect("manifest"),
        )
        .expect("manifest JSON");
        assert_eq!(manifest["source"]["database"], SOURCE_DB, "{what}");
        assert_eq!(
            manifest["source"]["key_tables"][0]["rows"], MARKER_ROWS,
            "{what}: {manifest:#}"
        );

        // The restore target, replaced through its new and old swap databases (and a safety
        // backup of it first).
        cluster
            .psql(
                SOURCE_DB,
                "INSERT INTO marker VALUES (100, 'after the backup')",
            )
            .expect("change the source");
        let restore = app.lifeboat(&["restore", &set, "--yes", "--json"]);
        assert_ok(&format!("{what}: restore in place"), &restore);
        assert_eq!(
            marker_rows(&app, SOURCE_DB),
            MARKER_ROWS.to_string(),
            "{what}"
        );
        assert_eq!(
            databases_like(&app, "%\\_lifeboat\\_%"),
            "",
            "{what}: swap leftovers"
        );

        // A target that does not exist yet: created under its new name, renamed into place.
        let target = (form.to)(port, NEW_DB);
        let restore = app.lifeboat(&["restore", &set, "--yes", "--target-url", &target]);
        assert_ok(&format!("{what}: restore into a new database"), &restore);
        assert_eq!(marker_rows(&app, NEW_DB), MARKER_ROWS.to_string(), "{what}");
        assert_eq!(
            databases_like(&app, "%\\_lifeboat\\_%"),
            "",
            "{what}: swap leftovers"
        );
        cluster
            .psql("postgres", &format!("DROP DATABASE \"{NEW_DB}\""))
            .expect("drop the new database");

        // The drill's scratch database, on the server named by the other string.
        let drill = app.lifeboat(&["drill", "--json"]);
        assert_ok(&format!("{what}: drill"), &drill);
        let record = json(&drill);
        assert_eq!(record["passed"], true, "{what}: {record:#}");
        let rows = record["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "rows in marker")
            .cloned()
            .unwrap_or_else(|| panic!("{what}: no marker check: {record:#}"));
        assert_eq!(rows["actual"], MARKER_ROWS.to_string(), "{what}: {rows:#}");
        let target = record["target"].as_str().expect("target");
        assert!(
            target.contains(&format!("scratch database {SOURCE_DB}_drill_")),
            "{what}: {target}"
        );
        assert_eq!(
            databases_like(&app, "%\\_drill\\_%"),
            "",
            "{what}: scratch left"
        );
        // The source itself was never the scratch database.
        assert_eq!(
            marker_rows(&app, SOURCE_DB),
            MARKER_ROWS.to_string(),
            "{what}"
        );
    }
}
