//! One database to connect to: a parsed connection string without its password, and the
//! password apart (handed to children only as `PGPASSWORD`, never in argv). Every rewrite of
//! the database a connection names (a restore's new and old swap databases, a drill's scratch
//! database, the maintenance database `postgres`) goes through [`PgConn::with_database`], so
//! it is escaped the way libpq reads it whichever form (URL or keywords) the operator wrote.

use super::conninfo::{ConnInfo, ConnInfoError};
use std::process::Command;

/// The database that CREATE DATABASE, DROP DATABASE and ALTER DATABASE ... RENAME run on:
/// they cannot run inside the database they name.
pub const MAINTENANCE_DB: &str = "postgres";

/// How to reach one database: the parsed connection string without its password, and the
/// password apart (handed to children only as `PGPASSWORD`).
#[derive(Clone, Default)]
pub struct PgConn {
    /// `None`: libpq's defaults and the PG* environment alone.
    info: Option<ConnInfo>,
    password: Option<String>,
    /// Why the configured string could not be read. Such a connection never connects (see
    /// `apply`): falling back to the PG* environment could restore into another database.
    invalid: Option<ConnInfoError>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl PgConn {
    /// `None` means libpq's defaults and PG* variables alone. A string libpq would refuse gives
    /// a connection that refuses to connect; use [`PgConn::parse`] to report it up front.
    pub fn new(database_url: Option<&str>) -> Self {
        match database_url.map(PgConn::parse) {
            None => PgConn::default(),
            Some(Ok(conn)) => conn,
            Some(Err(e)) => PgConn {
                invalid: Some(e),
                ..PgConn::default()
            },
        }
    }

    /// Reads a libpq URL or keyword/value string (see `conninfo`) and takes its password out,
    /// wherever it was written: URL userinfo, `?password=`, or `password=`.
    pub fn parse(database_url: &str) -> Result<Self, ConnInfoError> {
        let mut info = ConnInfo::parse(database_url)?;
        let password = info.remove("password");
        Ok(PgConn {
            info: Some(info),
            password,
            invalid: None,
        })
    }

    /// The same server, another database (`dbname` replaced, whatever form it was written in).
    pub fn with_database(&self, db: &str) -> PgConn {
        let mut info = self.info.clone().unwrap_or_else(ConnInfo::empty);
        info.set("dbname", db);
        PgConn {
            info: Some(info),
            password: self.password.clone(),
            invalid: self.invalid.clone(),
        }
    }

    /// The same server's maintenance database ([`MAINTENANCE_DB`]).
    pub fn maintenance(&self) -> PgConn {
        self.with_database(MAINTENANCE_DB)
    }

    /// The database named in the connection string, if it names one (libpq would otherwise
    /// use `PGDATABASE`, a service file's, or the user name).
    pub fn database(&self) -> Option<String> {
        self.info
            .as_ref()?
            .get("dbname")
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Safe to print: never holds the password. A URL stays a URL.
    pub fn display(&self) -> String {
        if let Some(e) = &self.invalid {
            return format!("(unreadable connection string: {e})");
        }
        match self.info.as_ref().map(ConnInfo::display) {
            Some(shown) if !shown.is_empty() => shown,
            _ => "(PG* environment)".into(),
        }
    }

    /// Points a libpq program at this database: `--dbname` with a keyword/value conninfo that
    /// holds no password and, if needed, `PGPASSWORD`.
    pub fn apply(&self, cmd: &mut Command) {
        if self.invalid.is_some() {
            // libpq refuses an unknown keyword before it connects anywhere.
            cmd.arg("--dbname=lifeboat_unreadable_connection_string=''");
        } else if let Some(info) = self.info.as_ref().filter(|i| !i.is_empty()) {
            cmd.arg(format!("--dbname={}", info.to_keywords()));
        }
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.env("PGAPPNAME", "lifeboat");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_the_password_out_however_it_is_written() {
        for (text, shown, password) in [
            (
                "postgresql://app:s%40cret@db.example:5432/app?sslmode=require",
                "postgresql://app@db.example:5432/app?sslmode=require",
                "s@cret",
            ),
            (
                "postgresql://app@db/app?password=a%20b%27c",
                "postgresql://app@db/app",
                "a b'c",
            ),
            (
                r"host=localhost password = 'x \\ y\'z' dbname=app",
                "host=localhost dbname=app",
                r"x \ y'z",
            ),
        ] {
            let conn = PgConn::new(Some(text));
            assert_eq!(conn.display(), shown, "{text}");
            assert_eq!(conn.password.as_deref(), Some(password), "{text}");
            let mut cmd = Command::new("true");
            conn.apply(&mut cmd);
            let argv: Vec<String> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(!argv.iter().any(|a| a.contains(password)), "{argv:?}");
            let env: Vec<_> = cmd.get_envs().collect();
            assert!(env.contains(&(
                std::ffi::OsStr::new("PGPASSWORD"),
                Some(std::ffi::OsStr::new(password))
            )));
        }
        let conn = PgConn::new(Some("postgresql://app@localhost/app"));
        assert!(!conn.has_password());
    }

    #[test]
    fn an_unreadable_string_never_connects_and_is_not_quoted() {
        let conn = PgConn::new(Some("host=h password='hunter2"));
        assert!(
            conn.display().contains("unterminated"),
            "{}",
            conn.display()
        );
        assert!(!conn.display().contains("hunter2"));
        let mut cmd = Command::new("true");
        conn.apply(&mut cmd);
        let argv: Vec<_> = cmd.get_args().collect();
        assert_eq!(argv, ["--dbname=lifeboat_unreadable_connection_string=''"]);
        assert!(PgConn::parse("host=h password='hunter2").is_err());
    }

    #[test]
    fn swaps_the_database() {
        let conn = PgConn::new(Some("postgresql://u:p@h:5/app?sslmode=disable"));
        assert_eq!(
            conn.with_database("app_drill").display(),
            "postgresql://u@h:5/app_drill?sslmode=disable"
        );
        assert_eq!(
            PgConn::new(Some("postgresql://h"))
                .with_database("x")
                .display(),
            "postgresql://h/x"
        );
        assert!(conn.with_database("x").has_password());
        let keywords = PgConn::new(Some("host=h dbname = 'app' password=p"));
        let other = keywords.with_database("it's café");
        assert_eq!(other.display(), "host=h dbname='it\\'s café'");
        assert_eq!(other.database().as_deref(), Some("it's café"));
        assert_eq!(PgConn::default().with_database("x").display(), "dbname=x");
    }

    #[test]
    fn finds_the_database_name() {
        for (text, db) in [
            ("postgresql://u@h:5/app_x?sslmode=disable", Some("app_x")),
            (
                "postgresql://u@h:5/caf%C3%A9%27s?dbname=other",
                Some("other"),
            ),
            ("host=h dbname = 'a b'", Some("a b")),
            ("postgresql://u@h:5", None),
            ("postgresql://u@h:5/", None),
            ("service=app", None),
        ] {
            assert_eq!(PgConn::new(Some(text)).database().as_deref(), db, "{text}");
        }
    }

    /// Every rewrite of the database (swap names, scratch names, the maintenance database)
    /// reads back as exactly that name, from both forms, in what libpq is handed and in what
    /// is shown, and leaves the rest of the connection as it was.
    #[test]
    fn rewritten_databases_read_back_whatever_they_hold() {
        let names = [
            "postgres",
            "it's",
            r"back\slash",
            "two words",
            "100%",
            "%41",
            "café 'ü' \\ 100% d’app_lifeboat_new_20261204",
            "日本語",
        ];
        let sources = [
            "postgresql://app:p%27w%5C@db.example:5433/caf%C3%A9%20x?sslmode=disable&application_name=a%20b",
            r"host=db.example port=5433 user=app password='p\'w\\' dbname='café x' sslmode=disable",
            "postgresql:///app?host=%2Ftmp%2Fsock%20dir&port=5433",
        ];
        for source in sources {
            let conn = PgConn::parse(source).expect(source);
            for name in names {
                let other = conn.with_database(name);
                assert_eq!(other.database().as_deref(), Some(name), "{source}");
                let info = other.info.as_ref().expect("parsed");
                let handed = ConnInfo::parse(&info.to_keywords()).expect("keywords");
                assert_eq!(handed.get("dbname"), Some(name), "{source}");
                let shown = PgConn::parse(&other.display()).expect("display");
                assert_eq!(shown.database().as_deref(), Some(name), "{source}");
                for keyword in ["host", "port", "user", "sslmode", "application_name"] {
                    assert_eq!(
                        handed.get(keyword),
                        conn.info.as_ref().and_then(|i| i.get(keyword))
                    );
                    assert_eq!(
                        shown.info.as_ref().and_then(|i| i.get(keyword)),
                        conn.info.as_ref().and_then(|i| i.get(keyword)),
                        "{source} -> {}",
                        other.display()
                    );
                }
                assert_eq!(other.password, conn.password);
            }
            if !source.contains("sock") {
                assert_eq!(conn.password.as_deref(), Some(r"p'w\"), "{source}");
            }
            assert_eq!(conn.maintenance().database().as_deref(), Some("postgres"));
        }
    }
}
