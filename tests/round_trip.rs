//! Round trips through the real binary: what goes into a backup comes back out of a restore
//! exactly, for a database with the awkward parts real applications have and for a file tree
//! with the awkward parts real file systems have.
//!
//! - The database: mixed-case quoted names ("User", "Sales"."OrderLine" with "CamelCase"
//!   columns), a non-public schema and an extension living in another one, Debian's contrib
//!   extensions (hstore, citext, pg_trgm, pgcrypto, uuid-ossp, ltree), large objects (several,
//!   one of 3 MiB, one with a comment), sequences (a non-default one with a set value, an
//!   unused one, identity columns), an enum, a view, a trigger, indexes (GIN trigram, partial,
//!   expression) and ~100 MB of generated rows. `pg_dump` (plain, with large objects) of the
//!   source, `lifeboat backup`, `lifeboat restore` into a new database, `pg_dump` again: the
//!   two dumps are identical once normalised (see [`normalise_dump`]).
//! - The files: names with spaces, a tab, newlines, non-UTF-8 bytes, NFC and NFD spellings,
//!   a 200-byte name and a deep path (GNU long names), empty directories, symlinks (relative,
//!   absolute inside the tree, dangling, out of the tree, to a directory, with a long or
//!   non-UTF-8 target), hard links (three names for one inode, and a pair), a sparse file, a
//!   large random file, unusual modes (0000, 0444, 0600, 0755, setuid, setgid and sticky
//!   directories, a read-only directory with files in it), owners other than root (when run as
//!   root), and an mtime with nanoseconds on every entry, directories included. After
//!   `lifeboat restore --files-to`: every path's type, bytes, mode, owner, mtime, symlink target
//!   and hard-link identity match, and the sparse file takes no more space than the original.
//!
//! Timestamps: the archive is GNU tar, whose headers hold whole seconds; mtimes are compared
//! at that precision (how many sub-second parts were lost is printed, not asserted).
//!
//! Budget (debug build, 2 cores shared with other builds): ~40 s for the suite (both round
//! trips run in parallel; the database one dominates: generating 100 MB, backup, restore).
//! `LIFEBOAT_FULL=1` grows the database to ~300 MB, the sparse file to 1 GiB apparent and the
//! random file to 128 MiB (~60 s). `LIFEBOAT_SEED=N` replays another seed (the seed in use is
//! printed).

mod common;

use common::describe;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::app::{AppOptions, TestApp, APP_DB};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

const DEFAULT_SEED: u64 = 20_240_917;

fn full() -> bool {
    std::env::var("LIFEBOAT_FULL").is_ok_and(|v| v == "1")
}

fn seed() -> u64 {
    let seed = std::env::var("LIFEBOAT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("round_trip seed: {seed} (replay with LIFEBOAT_SEED={seed})");
    seed
}

fn assert_exit(what: &str, out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {}",
        describe(out)
    );
}

/// Prints how long a step took (the suite's budget is measured from these).
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = f();
    eprintln!("  {what}: {:.1} s", started.elapsed().as_secs_f64());
    value
}

/// `lifeboat restore SET --yes` into a database and a directory of its own, never the source.
fn restore_elsewhere(app: &TestApp, set: &str, db: &str, to: &Path) {
    let url = app.cluster().url(db);
    let to = to.to_str().expect("test paths are UTF-8");
    let out = app.lifeboat(&[
        "restore",
        set,
        "--target-url",
        &url,
        "--files-to",
        to,
        "--secrets-to",
        to,
        // A full-fidelity round trip: owners and set-id bits too.
        "--restore-owners",
        "--no-safety-backup",
        "--yes",
        "--json",
    ]);
    assert_exit("lifeboat restore --yes into a new database", &out, 0);
}

// ---------------------------------------------------------------------------------------------
// The database.

/// Schema on top of assets/demo.sql (which already has "User", documents, audit_log and
/// billing.invoices).
const SCHEMA_SQL: &str = r#"
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE EXTENSION pg_trgm;
CREATE EXTENSION "uuid-ossp";
CREATE EXTENSION ltree;
CREATE SCHEMA "Crypto";
CREATE EXTENSION pgcrypto WITH SCHEMA "Crypto";
CREATE SCHEMA "Sales";
COMMENT ON SCHEMA "Sales" IS 'Orders, invoices and their "lines"';
CREATE TYPE "Sales"."OrderStatus" AS ENUM ('New', 'paid', 'Shipped', 'cancelled');
CREATE SEQUENCE "Sales"."Invoice_No" START 1000 INCREMENT 7 MINVALUE 1000 MAXVALUE 99999999 CACHE 1 CYCLE;
CREATE SEQUENCE "Sales"."NeverUsed" START 5 INCREMENT -1 MINVALUE -100 MAXVALUE 5;
CREATE TABLE "Sales"."OrderLine" (
    "LineId" bigint GENERATED ALWAYS AS IDENTITY (START WITH 10 INCREMENT BY 3) PRIMARY KEY,
    "OrderRef" uuid NOT NULL,
    "CustomerEmail" citext NOT NULL,
    "UserId" int REFERENCES "User"(id),
    "Sku" text NOT NULL,
    "Quantity" int NOT NULL CHECK ("Quantity" > 0),
    "UnitPrice" numeric(12,2) NOT NULL,
    "Status" "Sales"."OrderStatus" NOT NULL DEFAULT 'New',
    "Attributes" hstore,
    "Category" ltree,
    "Notes" text,
    "Digest" bytea,
    "PlacedAt" timestamptz NOT NULL,
    "InvoiceNo" bigint DEFAULT nextval('"Sales"."Invoice_No"'),
    "UpdatedAt" timestamptz
);
CREATE TABLE "Sales"."Attachment" (
    "AttachmentId" int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    "Blob" oid NOT NULL,
    "FileName" text NOT NULL
);
CREATE VIEW "Sales"."DailyTotals" AS
    SELECT date_trunc('day', "PlacedAt") AS "Day", count(*) AS "Lines",
           sum("Quantity" * "UnitPrice") AS "Total"
    FROM "Sales"."OrderLine" GROUP BY 1;
CREATE FUNCTION "Sales"."TouchUpdatedAt"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW."UpdatedAt" := now();
    RETURN NEW;
END $$;
CREATE TRIGGER "OrderLine_Touch" BEFORE UPDATE ON "Sales"."OrderLine"
    FOR EACH ROW EXECUTE FUNCTION "Sales"."TouchUpdatedAt"();
CREATE TABLE public."MixedCase Table" ("Id" int PRIMARY KEY, "Value With Space" text, lower_col int);
"#;

/// ~`rows` order lines of generated, varied text and numbers (no padding), deterministic for
/// `seed`; small tables, large objects, sequence positions, and the indexes (built after the
/// load, which is faster than maintaining them row by row).
fn data_sql(rows: u64, seed: u64) -> String {
    let seed = seed % 1_000_000;
    format!(
        r#"
INSERT INTO "Sales"."OrderLine" ("OrderRef", "CustomerEmail", "UserId", "Sku", "Quantity",
    "UnitPrice", "Status", "Attributes", "Category", "Notes", "Digest", "PlacedAt")
OVERRIDING SYSTEM VALUE
SELECT md5(i::text || '{seed}')::uuid,
       initcap(w[1 + h1 % 64]) || '.' || w[1 + h2 % 64] || (i % 5000) || '@Example.COM',
       CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + i % 2000 END,
       upper(left(w[1 + (h1 >> 6) % 64], 3)) || '-' || lpad((h2 % 100000)::text, 5, '0'),
       1 + h1 % 17,
       ((h2 % 1000000) / 100.0)::numeric(12,2),
       (ARRAY['New','paid','Shipped','cancelled']::"Sales"."OrderStatus"[])[1 + i % 4],
       hstore(ARRAY['colour', w[1 + (h2 >> 7) % 64], 'size', ((h1 >> 9) % 48)::text]),
       text2ltree('Top.' || initcap(w[1 + (h1 >> 12) % 64]) || '.' || w[1 + (h2 >> 12) % 64]),
       CASE WHEN i % 13 = 0 THEN NULL ELSE
           initcap(w[1 + (h1 >> 3) % 64]) || ' ' || w[1 + (h1 >> 15) % 64] || ' ' ||
           w[1 + (h1 >> 21) % 64] || ', ' || w[1 + (h2 >> 3) % 64] || ' ' ||
           w[1 + (h2 >> 15) % 64] || ' ' || w[1 + (h2 >> 21) % 64] || ' ' ||
           w[1 + (h1 >> 27) % 64] || E'\t' || w[1 + (h2 >> 27) % 64] ||
           CASE WHEN i % 7 = 0 THEN E'\nsecond line: ' || w[1 + (h1 >> 33) % 64] || ' «ünïcødé» ✓'
                ELSE '.' END
       END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE "Crypto".digest(i::text || '{seed}', 'sha1') END,
       timestamptz '2021-03-04 05:06:07.123456+00' + make_interval(secs => (h1 % 86400000) / 10.0)
FROM generate_series(1, {rows}) AS i,
     LATERAL (SELECT abs(hashint8(i * 2 + {seed})) AS h1, abs(hashint8(i * 2 + 1 + {seed})) AS h2) AS h,
     (SELECT ARRAY['alpha','bravo','charlie','delta','echo','foxtrot','golf','hotel','india',
        'juliet','kilo','lima','mike','november','oscar','papa','quebec','romeo','sierra',
        'tango','uniform','victor','whiskey','xray','yankee','zulu','amber','basalt','cobalt',
        'dune','ember','fjord','granite','harbour','iris','jade','kelp','lagoon','meadow',
        'nectar','onyx','pebble','quartz','river','saffron','thistle','umber','violet','willow',
        'xenon','yarrow','zephyr','anchor','beacon','compass','drift','estuary','ferry','gale',
        'hull','isle','jetty','keel','lantern'] AS w) AS words;
INSERT INTO public."MixedCase Table" SELECT i, 'value "' || i || E'" \\ with\ttab', i * i FROM generate_series(1, 500) i;
SELECT setval('"Sales"."Invoice_No"', 424242, true);
SELECT lo_from_bytea(0, convert_to('small large object number ' || i, 'UTF8')) FROM generate_series(1, 5) i;
SELECT lo_from_bytea(424242, (SELECT string_agg(sha256(int8send(i + {seed})), ''::bytea ORDER BY i) FROM generate_series(1, 98304) i));
SELECT lo_from_bytea(424243, ''::bytea);
COMMENT ON LARGE OBJECT 424242 IS 'three MiB of hashes';
CREATE INDEX "OrderLine_Sku_trgm" ON "Sales"."OrderLine" USING gin ("Sku" gin_trgm_ops);
CREATE INDEX "OrderLine_Customer_PlacedAt" ON "Sales"."OrderLine" ("CustomerEmail", "PlacedAt" DESC);
CREATE INDEX "OrderLine_Open" ON "Sales"."OrderLine" ("PlacedAt") WHERE "Status" = 'New';
CREATE INDEX "OrderLine_lower_notes" ON "Sales"."OrderLine" (lower(left("Notes", 20)));
INSERT INTO "Sales"."Attachment" ("Blob", "FileName")
    SELECT oid, 'attachment ' || oid FROM pg_largeobject_metadata ORDER BY oid;
ANALYZE;
"#
    )
}

/// Runs `pg_dump` (plain SQL, large objects included) of `db` to a file; returns its path.
fn plain_dump(app: &TestApp, db: &str, to: &Path) -> PathBuf {
    let path = to.join(format!("{db}.sql"));
    let file = File::create(&path).expect("create the dump file");
    let out = Command::new(app.pg_program("pg_dump"))
        .args(["--format=plain", "--blobs", "--no-password"])
        .arg(format!("--dbname={}", app.cluster().url(db)))
        .stdin(Stdio::null())
        .stdout(file)
        .output()
        .expect("run pg_dump");
    assert_exit(&format!("pg_dump --format=plain --blobs {db}"), &out, 0);
    path
}

/// What a dump of the same data may legitimately differ in, taken out:
/// - `\restrict` / `\unrestrict` lines carry a random key per run (pg_dump 15.14+);
/// - the rows inside each `COPY ... FROM stdin;` block are sorted, because a table's physical
///   row order (and so COPY's output order) is not part of its contents.
///
/// Nothing else is touched: names, definitions, ownership, sequence positions (`setval`),
/// large object OIDs, contents and comments, and extension versions all have to match.
fn normalise_dump(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read the dump {}: {e}", path.display()));
    let mut out = Vec::new();
    let mut rows: Option<Vec<&str>> = None;
    for line in text.lines() {
        if let Some(block) = rows.as_mut() {
            if line == "\\." {
                block.sort_unstable();
                out.extend(block.drain(..).map(str::to_string));
                rows = None;
                out.push(line.to_string());
            } else {
                block.push(line);
            }
            continue;
        }
        if line.starts_with("\\restrict ") || line.starts_with("\\unrestrict ") {
            continue;
        }
        if line.starts_with("COPY ") && line.ends_with(" FROM stdin;") {
            rows = Some(Vec::new());
        }
        out.push(line.to_string());
    }
    assert!(
        rows.is_none(),
        "{} ends inside a COPY block",
        path.display()
    );
    out
}

/// Lines only in `a` and lines only in `b` (as multisets), at most `limit` of each.
fn line_differences(a: &[String], b: &[String], limit: usize) -> (Vec<String>, Vec<String>) {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for line in a {
        *counts.entry(line).or_default() += 1;
    }
    for line in b {
        *counts.entry(line).or_default() -= 1;
    }
    let clip = |l: &str| l.chars().take(200).collect::<String>();
    let only_a = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .take(limit)
        .map(|(l, _)| clip(l))
        .collect();
    let only_b = counts
        .iter()
        .filter(|(_, n)| **n < 0)
        .take(limit)
        .map(|(l, _)| clip(l))
        .collect();
    (only_a, only_b)
}

#[test]
fn the_dump_normaliser_sorts_copy_rows_drops_restrict_keys_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let write_dump = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write a dump");
        normalise_dump(&path)
    };
    let a = write_dump(
        "a.sql",
        "\\restrict KEYA\nCOPY t (a) FROM stdin;\n2\tb\n1\ta\n\\.\nSELECT setval('s', 5, true);\n\\unrestrict KEYA\n",
    );
    let b = write_dump(
        "b.sql",
        "\\restrict KEYB\nCOPY t (a) FROM stdin;\n1\ta\n2\tb\n\\.\nSELECT setval('s', 5, true);\n\\unrestrict KEYB\n",
    );
    assert_eq!(a, b, "row order and restrict keys are not differences");
    let c = write_dump(
        "c.sql",
        "COPY t (a) FROM stdin;\n1\ta\n2\tb\n\\.\nSELECT setval('s', 6, true);\n",
    );
    assert_ne!(a, c, "a sequence position is a difference");
    let (only_a, only_c) = line_differences(&a, &c, 5);
    assert_eq!(only_a, vec!["SELECT setval('s', 5, true);"]);
    assert_eq!(only_c, vec!["SELECT setval('s', 6, true);"]);
}

#[test]
fn database_round_trips_to_an_identical_dump() {
    let seed = seed();
    let target_bytes: u64 = if full() { 300 << 20 } else { 100 << 20 };
    // ~285 bytes of COPY text per order line (and the hex of its digest); the demo tables and
    // the large objects add ~8 MB.
    let rows = target_bytes / 280;
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    timed("schema", || app.psql(SCHEMA_SQL));
    timed(&format!("{rows} generated order lines"), || {
        app.psql(&data_sql(rows, seed))
    });
    let work = tempfile::tempdir().expect("a scratch directory");

    let source_dump = timed("pg_dump of the source", || {
        plain_dump(&app, APP_DB, work.path())
    });
    let dump_bytes = std::fs::metadata(&source_dump)
        .expect("stat the dump")
        .len();
    eprintln!("  plain dump of the source: {} MiB", dump_bytes >> 20);
    assert!(
        dump_bytes >= target_bytes,
        "the source dump is {dump_bytes} bytes, less than the {target_bytes} this test promises"
    );
    let before = normalise_dump(&source_dump);
    // The dump holds what the test is about, or comparing it proves little.
    for expected in [
        "CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public;",
        "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA \"Crypto\";",
        "CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA public;",
        "CREATE TABLE \"Sales\".\"OrderLine\" (",
        "SELECT pg_catalog.setval('\"Sales\".\"Invoice_No\"', 424242, true);",
        "SELECT pg_catalog.setval('\"Sales\".\"NeverUsed\"', 5, false);",
        "SELECT pg_catalog.lo_create('424242');",
        "COMMENT ON LARGE OBJECT 424242 IS 'three MiB of hashes';",
        "CREATE INDEX \"OrderLine_Sku_trgm\" ON \"Sales\".\"OrderLine\" USING gin (\"Sku\" public.gin_trgm_ops);",
    ] {
        assert!(
            before.iter().any(|l| l == expected),
            "the source dump lacks `{expected}`"
        );
    }
    let large_objects = app.psql("SELECT count(*) FROM pg_largeobject_metadata");
    assert_eq!(large_objects, "7", "large objects in the source");

    let set = timed("lifeboat backup", || app.backup());
    timed("lifeboat restore into a new database", || {
        restore_elsewhere(&app, &set, "restored", &work.path().join("files"))
    });
    let restored_dump = timed("pg_dump of the restored database", || {
        plain_dump(&app, "restored", work.path())
    });
    let after = normalise_dump(&restored_dump);
    if before != after {
        let (only_source, only_restored) = line_differences(&before, &after, 15);
        panic!(
            "the restored database's dump differs from the source's ({} vs {} lines, after \
             normalising)\nonly in the source:\n  {}\nonly in the restored database:\n  {}",
            before.len(),
            after.len(),
            only_source.join("\n  "),
            only_restored.join("\n  ")
        );
    }

    // The restored sequences carry on where the source's were, and the large objects read back.
    let psql = |sql: &str| app.psql_db("restored", sql);
    assert_eq!(
        psql("SELECT nextval('\"Sales\".\"Invoice_No\"')"),
        "424249",
        "the restored sequence continues from its set value"
    );
    let max_line = app.psql("SELECT max(\"LineId\") FROM \"Sales\".\"OrderLine\"");
    let inserted = psql(
        "INSERT INTO \"Sales\".\"OrderLine\" (\"OrderRef\", \"CustomerEmail\", \"Sku\", \
         \"Quantity\", \"UnitPrice\", \"PlacedAt\") VALUES (uuid_generate_v4(), 'x@y', 'S', 1, 1, now()) \
         RETURNING \"LineId\"",
    );
    let max_line: i64 = max_line.parse().expect("a number");
    assert_eq!(
        inserted.lines().next().unwrap_or_default(),
        (max_line + 3).to_string(),
        "the identity column continues after the restored rows, by its own increment"
    );
    assert_eq!(
        psql("SELECT md5(lo_get(424242))"),
        app.psql("SELECT md5(lo_get(424242))"),
        "the 3 MiB large object reads back the same"
    );
}

// ---------------------------------------------------------------------------------------------
// The files.

fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

fn write(path: &Path, contents: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn mkdir(path: &Path) {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(target.as_ref(), link)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

fn hard_link(original: &Path, link: &Path) {
    std::fs::hard_link(original, link)
        .unwrap_or_else(|e| panic!("hard link {}: {e}", link.display()));
}

/// Sets a path's mtime (and atime) without following a symlink.
fn set_mtime(path: &Path, secs: i64, nanos: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths");
    let t = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos as libc::c_long,
    };
    let times = [t, t];
    // SAFETY: a valid NUL-terminated path and two timespecs, as utimensat(2) requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        rc,
        0,
        "utimensat {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The awkward file tree, added to the app's own files root. Returns the sparse file's path.
fn build_awkward_tree(
    root: &Path,
    rng: &mut SmallRng,
    sparse_len: u64,
    large_len: usize,
) -> PathBuf {
    let p = |rel: &[u8]| root.join(os(rel));

    // Names.
    write(&p(b"with spaces/a file with  two  spaces.txt"), b"spaces\n");
    write(&p(b"with spaces/ leading and trailing "), b"edges\n");
    write(&p(b"line\nbreak/tab\tand\nnewline.txt"), b"newlines\n");
    write(&p(b"line\nbreak/\n"), b"a name that is one newline\n");
    write(&p(b"latin1-\xe9t\xe9/caf\xe9.txt"), b"ISO-8859-1 names\n");
    write(&p(b"\xff\xfe raw bytes"), b"not UTF-8 at all\n");
    write(&p("unicode/café".as_bytes()), b"NFC\n");
    write(&p("unicode/cafe\u{301}".as_bytes()), b"NFD\n");
    write(&p("unicode/日本語 ✓ 🚀".as_bytes()), b"multibyte\n");
    write(&p(b"-leading-dash"), b"dash\n");
    write(&p(b".hidden/.dotfile"), b"dot\n");
    write(&p(b"back\\slash"), b"backslash\n");
    let long_name = format!("{}.txt", "n".repeat(200));
    write(&p(long_name.as_bytes()), b"a 204-byte name\n");
    let deep: PathBuf = (0..6).map(|i| format!("{i}{}", "d".repeat(60))).collect();
    write(
        &root.join(&deep).join("deep.txt"),
        b"a path over 370 bytes\n",
    );

    // Empty directories, one of them deep.
    mkdir(&p(b"empty"));
    mkdir(&p(b"a/b/c/empty"));
    mkdir(&p(b"empty with \xe9"));

    // Symlinks.
    mkdir(&p(b"links"));
    symlink(
        "../with spaces/a file with  two  spaces.txt",
        &p(b"links/relative"),
    );
    symlink(root.join("README.txt"), &p(b"links/absolute inside"));
    symlink("nowhere/at/all", &p(b"links/dangling"));
    symlink("../../shared/uploads", &p(b"links/out of the tree"));
    symlink("/run/app/app.sock", &p(b"links/absolute outside"));
    symlink("../a/b", &p(b"links/to a directory"));
    symlink(
        os(b"../latin1-\xe9t\xe9/caf\xe9.txt"),
        &p(b"links/non-utf8 target"),
    );
    symlink(
        format!("../{}/{}", "x".repeat(120), "y".repeat(40)),
        &p(b"links/long dangling target"),
    );

    // Hard links: three names for one inode across directories, and a private pair.
    write(&p(b"hard/one"), b"one inode, three names\n");
    hard_link(&p(b"hard/one"), &p(b"hard/two"));
    hard_link(&p(b"hard/one"), &p(b"with spaces/three"));
    write(&p(b"hard/pair-a"), &random_vec(rng, 70_000));
    chmod(&p(b"hard/pair-a"), 0o600);
    hard_link(&p(b"hard/pair-a"), &p(b"line\nbreak/pair-b"));

    // Sparse: data at the start, an unaligned block in the middle, and the last bytes.
    let sparse = p(b"sparse.img");
    {
        let mut f = File::create(&sparse).expect("create the sparse file");
        f.set_len(sparse_len).expect("size the sparse file");
        for (offset, len) in [
            (0, 4096),
            (sparse_len / 2 + 12_345, 10_000),
            (sparse_len - 100, 100),
        ] {
            f.seek(SeekFrom::Start(offset)).expect("seek");
            f.write_all(&random_vec(rng, len))
                .expect("write a sparse block");
        }
    }
    write(&p(b"large.bin"), &random_vec(rng, large_len));

    // Modes.
    for (name, mode) in [
        (&b"modes/none"[..], 0o000),
        (b"modes/read-only", 0o444),
        (b"modes/private", 0o600),
        (b"modes/script.sh", 0o755),
        (b"modes/setuid", 0o4755),
        (b"modes/group-write", 0o664),
    ] {
        write(&p(name), name);
        chmod(&p(name), mode);
    }
    for (name, mode) in [
        (&b"modes/private-dir"[..], 0o700),
        (b"modes/setgid-dir", 0o2775),
        (b"modes/sticky-dir", 0o1777),
        (b"modes/read-only-dir", 0o555),
    ] {
        write(
            &p(name).join("inside"),
            b"in a directory with an unusual mode\n",
        );
        chmod(&p(name), mode);
    }

    // Owners other than the one restoring (only root can give files away).
    if running_as_root() {
        write(&p(b"owned/by-4321"), b"owned\n");
        std::os::unix::fs::chown(p(b"owned/by-4321"), Some(4321), Some(4322)).expect("chown");
        symlink("by-4321", &p(b"owned/link"));
        std::os::unix::fs::lchown(p(b"owned/link"), Some(4323), Some(4324)).expect("lchown");
        std::os::unix::fs::chown(p(b"owned"), Some(4321), Some(4321)).expect("chown");
    }

    // Every entry gets its own mtime with nanoseconds, children before their directory (a
    // child's creation would change its directory's mtime). Some are old, some in the future.
    let entries: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .contents_first(true)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.expect("walk the tree").into_path())
        .collect();
    for (i, path) in entries.iter().enumerate() {
        let secs = match i % 3 {
            0 => 1_000_000_000 + i as i64 * 7_919, // 2001
            1 => 1_700_000_000 + i as i64 * 613,   // 2023
            _ => 2_100_000_000 + i as i64,         // 2036, after the 2^31 boundary too
        };
        set_mtime(path, secs, (i as i64 * 123_456_789) % 1_000_000_000);
    }
    sparse
}

fn random_vec(rng: &mut SmallRng, n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// One path as a restore must bring it back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    /// `dir`, `file <len>` (the bytes are compared apart) or `symlink -> <target bytes>`.
    what: String,
    mode: u32,
    uid: u32,
    gid: u32,
    /// Whole seconds: what a GNU tar header holds.
    mtime: i64,
}

/// Whether two files hold the same bytes (compared directly: hashing hundreds of MiB in a debug
/// build costs more than the round trip being tested).
fn same_bytes(a: &Path, b: &Path) -> bool {
    let open = |p: &Path| File::open(p).unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    let (mut fa, mut fb) = (open(a), open(b));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba, a);
        let nb = read_full(&mut fb, &mut bb, b);
        if ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8], path: &Path) -> usize {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => panic!("read {}: {e}", path.display()),
        }
    }
    filled
}

/// Printable form of a relative path (non-UTF-8 bytes and newlines escaped).
fn shown(rel: &[u8]) -> String {
    rel.escape_ascii().to_string()
}

struct Tree {
    nodes: BTreeMap<Vec<u8>, Node>,
    /// Names sharing one inode, for files with more than one link.
    inodes: BTreeMap<(u64, u64), BTreeSet<Vec<u8>>>,
    /// Sub-second parts of mtimes, to report what the format keeps.
    nanos: u64,
}

fn scan(root: &Path) -> Tree {
    let mut tree = Tree {
        nodes: BTreeMap::new(),
        inodes: BTreeMap::new(),
        nanos: 0,
    };
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.unwrap_or_else(|e| panic!("walk {}: {e}", root.display()));
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("under the root")
            .as_os_str()
            .as_bytes()
            .to_vec();
        let meta = entry
            .path()
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("stat {}: {e}", entry.path().display()));
        let what = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("read the link");
            format!("symlink -> {}", shown(target.as_os_str().as_bytes()))
        } else if meta.is_dir() {
            "dir".to_string()
        } else {
            if meta.nlink() > 1 {
                tree.inodes
                    .entry((meta.dev(), meta.ino()))
                    .or_default()
                    .insert(rel.clone());
            }
            format!("file {}", meta.len())
        };
        if meta.mtime_nsec() != 0 {
            tree.nanos += 1;
        }
        tree.nodes.insert(
            rel,
            Node {
                what,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
            },
        );
    }
    tree
}

#[test]
fn files_round_trip_with_names_links_modes_mtimes_and_holes() {
    let seed = seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let (sparse_len, large_len) = if full() {
        (1 << 30, 128 << 20)
    } else {
        (256 << 20, 24 << 20)
    };
    let app = timed("a TestApp", || TestApp::new(AppOptions::default()));
    let root = app.files_dir();
    let sparse = timed("the awkward tree", || {
        build_awkward_tree(&root, &mut rng, sparse_len, large_len)
    });
    let allocated = std::fs::metadata(&sparse).expect("stat").blocks() * 512;
    assert!(
        allocated < sparse_len / 16,
        "this file system did not make {} sparse ({allocated} bytes allocated); the test needs one that does",
        sparse.display()
    );
    let original = timed("scanning the source tree", || scan(&root));

    let set = timed("lifeboat backup of the awkward tree", || app.backup());
    // The source is untouched by the backup.
    assert!(
        original.nodes == scan(&root).nodes,
        "the backup changed the source tree"
    );
    let to = app.root().join("restored");
    timed("lifeboat restore --files-to", || {
        restore_elsewhere(&app, &set, "restored", &to)
    });
    let restored_root = to.join(root.strip_prefix("/").expect("an absolute root"));
    let restored = timed("scanning the restored tree", || scan(&restored_root));

    // Same paths, each with the same type, bytes, link target, mode, owner and mtime.
    let compared = Instant::now();
    let mut problems = Vec::new();
    let paths: BTreeSet<&Vec<u8>> = original.nodes.keys().chain(restored.nodes.keys()).collect();
    for path in paths {
        match (original.nodes.get(path), restored.nodes.get(path)) {
            (Some(a), Some(b)) if a == b => {
                if a.what.starts_with("file ")
                    && !same_bytes(&root.join(os(path)), &restored_root.join(os(path)))
                {
                    problems.push(format!("`{}`: the bytes differ", shown(path)));
                }
            }
            (a, b) => problems.push(format!(
                "`{}`:\n    source   {a:?}\n    restored {b:?}",
                shown(path)
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} paths did not come back as they were:\n  {}",
        problems.len(),
        original.nodes.len(),
        problems.join("\n  ")
    );

    eprintln!(
        "  comparing {} paths: {:.1} s",
        original.nodes.len(),
        compared.elapsed().as_secs_f64()
    );

    // Hard links: every group of names is one inode again, and only those names share it.
    assert!(
        original.inodes.len() >= 2,
        "the tree has no hard links to check"
    );
    for names in original.inodes.values() {
        let inodes: BTreeSet<(u64, u64)> = names
            .iter()
            .map(|n| {
                let m = restored_root.join(os(n)).symlink_metadata().expect("stat");
                (m.dev(), m.ino())
            })
            .collect();
        let shown_names: Vec<String> = names.iter().map(|n| shown(n)).collect();
        assert_eq!(
            inodes.len(),
            1,
            "hard links {shown_names:?} were restored as {} separate files",
            inodes.len()
        );
        let first = restored_root.join(os(names.iter().next().expect("a name")));
        let nlink = first.symlink_metadata().expect("stat").nlink();
        assert_eq!(
            nlink,
            names.len() as u64,
            "hard links {shown_names:?}: the restored inode has {nlink} links"
        );
    }

    // Holes: the restored sparse file takes about as little space as the original.
    let restored_sparse = restored_root.join("sparse.img");
    let restored_allocated = std::fs::metadata(&restored_sparse).expect("stat").blocks() * 512;
    eprintln!(
        "  sparse file: {} MiB apparent, {} KiB allocated in the source, {} KiB restored",
        sparse_len >> 20,
        allocated >> 10,
        restored_allocated >> 10
    );
    assert!(
        restored_allocated <= allocated + (1 << 20),
        "the restored {} takes {restored_allocated} bytes on disk, the original {allocated}: \
         its holes were written out as zeros",
        restored_sparse.display()
    );
    eprintln!(
        "  mtimes: {} of {} source entries have nanoseconds; restored entries with nanoseconds: {} \
         (GNU tar headers keep whole seconds)",
        original.nanos,
        original.nodes.len(),
        restored.nanos
    );
}
