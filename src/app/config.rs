//! The TOML configuration: where it is found (`--config`, `LIFEBOAT_CONFIG`, the XDG config
//! directory), how it is checked (unknown keys are errors naming the file and line), and how it
//! becomes job specs. Credentials never live here: S3 keys come from the AWS chain, database
//! passwords from PGPASSWORD or pgpass, the gpg passphrase from a file.

use crate::jobs::backup::{BackupSpec, SourceSpec, DEFAULT_TIMEOUT};
use crate::jobs::drill::{DrillSpec, SqlCheck};
use crate::jobs::prune::PruneSpec;
use crate::jobs::restore::{Hooks, RestoreSpec};
use crate::jobs::status::{StatusSpec, DEFAULT_STALE_AFTER, DEFAULT_VERIFY_STALE_AFTER};
use crate::jobs::verify::{DecryptSpec, VerifySpec, VerifyTarget};
use crate::storage::codec::{Codec, CodecKind};
use crate::storage::gpg::EncryptionSpec;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::PgConn;
use crate::storage::repository::{parse_location, RepositorySpec};
use crate::storage::retention::{Policy, RetentionConfig};
use crate::storage::roots::{Destination, RootsSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The commented example shipped with lifeboat (`lifeboat config example`).
pub const EXAMPLE_CONFIG: &str = include_str!("../../assets/config.example.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file at {path}: create one (`lifeboat config example > {path}`), or pass --config PATH / set LIFEBOAT_CONFIG")]
    Missing { path: PathBuf },
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("configuration file {path}: {key}: {problem}")]
    Invalid {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
}

/// A TOML error quotes the line it stopped at; a connection string there may hold a password,
/// so such a line is shown by its number only.
fn hide_connection_strings(message: &str) -> String {
    message
        .lines()
        .map(|line| match line.split_once(" | ") {
            Some((number, text))
                if number.trim().parse::<u32>().is_ok()
                    && (text.contains("_url") || text.contains("password")) =>
            {
                format!("{number} | (not shown: it may hold a password)")
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub source: SourceConfig,
    pub repository: RepositoryConfig,
    #[serde(default)]
    pub secrets_repository: Option<RepositoryConfig>,
    pub encryption: EncryptionConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    #[serde(default)]
    pub status: StatusConfig,
    #[serde(default)]
    pub restore: RestoreConfig,
    #[serde(default)]
    pub drill: DrillConfig,
    /// What prune keeps; absent, prune refuses (it never guesses a policy).
    #[serde(default)]
    pub retention: Option<RetentionConfig>,
    /// Commands told about failures, stale backups and drills (`app::notify`).
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Where the file was read from (for messages).
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[notify]`: commands run with `sh -c`, the event as JSON on stdin; never fatal.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// After a backup that failed (or could not upload, or timed out).
    #[serde(default)]
    pub on_failure: Vec<String>,
    /// When `status` finds no backup newer than `[status].stale_after`.
    #[serde(default)]
    pub on_stale: Vec<String>,
    /// After every finished drill, passed or failed.
    #[serde(default)]
    pub on_drill: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// libpq URL or conninfo; omitted: the PG* environment.
    pub database_url: Option<String>,
    #[serde(default)]
    pub files: Vec<PathBuf>,
    #[serde(default)]
    pub secrets: Vec<PathBuf>,
    #[serde(default)]
    pub key_tables: Vec<String>,
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
    /// Per storage call, e.g. "2m".
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    pub mode: String,
    pub passphrase_file: Option<PathBuf>,
    #[serde(default)]
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    pub compression: Option<String>,
    pub level: Option<i32>,
    pub threads: Option<u32>,
    pub timeout: Option<String>,
    pub spool_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// "No successful backup in this long" is an alert; default 48h.
    pub stale_after: Option<String>,
    /// "No successful verification in this long" is an alert; default 7d, "0s" switches it off.
    pub verify_stale_after: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreConfig {
    /// Commands run with `sh -c` before anything is touched (e.g. stop the application).
    #[serde(default)]
    pub pre_restore: Vec<String>,
    /// Commands run after the data is in place (e.g. start the application).
    #[serde(default)]
    pub post_restore: Vec<String>,
    /// An http:// URL that must answer 2xx, or a command that must exit 0.
    pub health: Option<String>,
    /// pg_restore parallelism (default: the number of cores).
    pub jobs: Option<u32>,
    /// Where decrypted scratch files go (default: the XDG data directory).
    pub scratch_dir: Option<PathBuf>,
    /// Restore the archived owners and set-uid/set-gid bits (default: off, even as root).
    pub owners: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// A server to create `<db>_drill_<timestamp>` on; omitted: an ephemeral local cluster.
    pub server_url: Option<String>,
    pub rto_target: Option<String>,
    pub rpo_target: Option<String>,
    /// How often a drill is due (default 30d).
    pub every: Option<String>,
    /// Returns the newest timestamp in the restored data, e.g. SELECT max(created_at) FROM audit_log.
    pub freshness_query: Option<String>,
    /// A command run against the restored database (LIFEBOAT_DRILL_DATABASE_URL); must exit 0.
    pub health: Option<String>,
    #[serde(default)]
    pub check: Vec<DrillCheckConfig>,
    #[serde(default)]
    pub manual: Vec<DrillManualConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillCheckConfig {
    pub name: String,
    pub sql: String,
    pub expect: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillManualConfig {
    pub step: String,
}

pub const DEFAULT_RTO_TARGET: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_RPO_TARGET: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_DRILL_EVERY: Duration = Duration::from_secs(30 * 86_400);

/// What the command line adds to a restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub target_url: Option<String>,
    pub files_to: Option<PathBuf>,
    pub secrets_to: Option<PathBuf>,
    /// `--map-root OLD=NEW`.
    pub map_roots: Vec<(PathBuf, PathBuf)>,
    /// `--restore-owners` (or `[restore].owners`).
    pub restore_owners: bool,
    pub jobs: Option<u32>,
    pub safety_backup: bool,
    /// `--create-roles`: create the owners and grantees the target server lacks.
    pub create_roles: bool,
}

/// `--files-to DIR`: the set's tree under DIR. `/` (or nothing) is the configured roots, where
/// the set's roots must be the configured ones.
fn destination(dir: Option<PathBuf>) -> Destination {
    let Some(dir) = dir else {
        return Destination::Configured;
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if dir
        .components()
        .all(|c| matches!(c, std::path::Component::RootDir))
    {
        Destination::Configured
    } else {
        Destination::Under(dir)
    }
}

pub fn default_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "lifeboat")
        .map(|d| d.config_dir().join("config.toml"))
        .unwrap_or_else(|| PathBuf::from("/etc/lifeboat/config.toml"))
}

/// `--config` beats `LIFEBOAT_CONFIG` beats the XDG default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("LIFEBOAT_CONFIG").map(PathBuf::from))
        .unwrap_or_else(default_path)
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: hide_connection_strings(
                e.to_string().trim_start_matches("TOML parse error ").trim(),
            ),
        })?;
        config.path = path.to_path_buf();
        config.validate()?;
        Ok(config)
    }

    fn invalid(&self, key: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            key,
            problem: problem.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        parse_location(&self.repository.url)
            .map_err(|e| self.invalid("repository.url", e.to_string()))?;
        if let Some(s) = &self.secrets_repository {
            parse_location(&s.url)
                .map_err(|e| self.invalid("secrets_repository.url", e.to_string()))?;
            // Written differently (a trailing slash, `..`) or one inside the other is the same
            // target too; `lifeboat keys check` also follows symlinks.
            if crate::storage::targets::same_or_nested(&s.url, &self.repository.url) {
                return Err(self.invalid(
                    "secrets_repository.url",
                    "is the same target as [repository].url (or inside it, or contains it); secrets need a separate one",
                ));
            }
        }
        for (key, paths) in [
            ("source.files", &self.source.files),
            ("source.secrets", &self.source.secrets),
        ] {
            if let Some(p) = paths.iter().find(|p| !p.is_absolute()) {
                return Err(self.invalid(key, format!("`{}` is not an absolute path", p.display())));
            }
            // A manifest with a control character is refused as altered: a set made from
            // such a root could never be read back.
            if let Some(p) = paths
                .iter()
                .find(|p| p.to_string_lossy().chars().any(char::is_control))
            {
                return Err(self.invalid(
                    key,
                    format!(
                        "`{}` has a control character (a newline, a tab...); rename it",
                        p.display().to_string().escape_debug()
                    ),
                ));
            }
        }
        if !self.source.secrets.is_empty() && self.secrets_repository.is_none() {
            return Err(self.invalid(
                "source.secrets",
                "is set but [secrets_repository] is not: secrets are stored only in a separate target",
            ));
        }
        // A connection string libpq would refuse is caught here, named, and never quoted (it
        // may hold a password).
        for (key, url) in [
            ("source.database_url", self.source.database_url.as_deref()),
            ("drill.server_url", self.drill.server_url.as_deref()),
        ] {
            if let Some(url) = url {
                PgConn::parse(url).map_err(|e| self.invalid(key, e.to_string()))?;
            }
        }
        for table in &self.source.key_tables {
            crate::storage::postgres::table_sql(table)
                .map_err(|e| self.invalid("source.key_tables", e.to_string()))?;
        }
        let encryption = self.encryption_spec()?;
        if encryption == EncryptionSpec::None && !self.source.secrets.is_empty() {
            return Err(self.invalid(
                "encryption.mode",
                "\"none\" is refused while [source].secrets is set",
            ));
        }
        self.codec()?;
        self.backup_timeout()?;
        self.drill_targets()?;
        self.stale_after()?;
        self.verify_stale_after()?;
        self.repository_spec(&self.repository, "repository.timeout")?;
        // A [retention] table that is there must be a usable policy; an absent one only stops
        // prune (see `retention_policy`), so backups need not configure retention.
        if self.retention.is_some() {
            self.retention_policy()?;
        }
        Ok(())
    }

    /// The validated `[retention]` policy. Absent or keeping nothing, it is an error that says
    /// why: a prune without a policy would delete every backup.
    pub fn retention_policy(&self) -> Result<Policy, ConfigError> {
        let config = self.retention.as_ref().ok_or_else(|| {
            self.invalid(
                "retention",
                "there is no [retention] table, and prune never guesses a policy (one that keeps \
                 nothing would delete every backup): add a [retention] table like the one in \
                 `lifeboat config example`",
            )
        })?;
        Policy::from_config(config).map_err(|e| self.invalid("retention", e.to_string()))
    }

    pub fn encryption_spec(&self) -> Result<EncryptionSpec, ConfigError> {
        match self.encryption.mode.as_str() {
            "none" => Ok(EncryptionSpec::None),
            "passphrase" => match &self.encryption.passphrase_file {
                Some(f) if f.is_absolute() => Ok(EncryptionSpec::Passphrase {
                    passphrase_file: f.clone(),
                }),
                Some(f) => Err(self.invalid(
                    "encryption.passphrase_file",
                    format!("`{}` is not an absolute path", f.display()),
                )),
                None => Err(self.invalid(
                    "encryption.passphrase_file",
                    "is required when mode = \"passphrase\"",
                )),
            },
            "recipients" => {
                if self.encryption.recipients.is_empty() {
                    Err(self.invalid(
                        "encryption.recipients",
                        "name at least one key when mode = \"recipients\"",
                    ))
                } else {
                    Ok(EncryptionSpec::Recipients {
                        recipients: self.encryption.recipients.clone(),
                    })
                }
            }
            other => Err(self.invalid(
                "encryption.mode",
                format!("`{other}` is not one of \"passphrase\", \"recipients\", \"none\""),
            )),
        }
    }

    pub fn codec(&self) -> Result<Codec, ConfigError> {
        let name = self.backup.compression.as_deref().unwrap_or("zstd");
        let kind = Codec::from_name(name).ok_or_else(|| {
            self.invalid(
                "backup.compression",
                format!("`{name}` is not one of \"zstd\", \"gzip\", \"none\""),
            )
        })?;
        let level = self.backup.level.unwrap_or(match kind {
            CodecKind::Zstd => Codec::DEFAULT_ZSTD_LEVEL,
            CodecKind::Gzip => Codec::DEFAULT_GZIP_LEVEL,
            CodecKind::None => 0,
        });
        let range = Codec::level_range(kind);
        if !range.contains(&level) {
            return Err(self.invalid(
                "backup.level",
                format!(
                    "{level} is out of range for {name} ({}..={})",
                    range.start(),
                    range.end()
                ),
            ));
        }
        let threads = self.backup.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(2)
        });
        Ok(Codec {
            kind,
            level,
            threads,
        })
    }

    fn duration(
        &self,
        key: &'static str,
        value: Option<&String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text).map_err(|e| {
                self.invalid(
                    key,
                    format!("`{text}` is not a duration like \"30m\" or \"48h\": {e}"),
                )
            }),
        }
    }

    pub fn backup_timeout(&self) -> Result<Duration, ConfigError> {
        self.duration(
            "backup.timeout",
            self.backup.timeout.as_ref(),
            DEFAULT_TIMEOUT,
        )
    }

    pub fn stale_after(&self) -> Result<Duration, ConfigError> {
        self.duration(
            "status.stale_after",
            self.status.stale_after.as_ref(),
            DEFAULT_STALE_AFTER,
        )
    }

    pub fn verify_stale_after(&self) -> Result<Duration, ConfigError> {
        self.duration(
            "status.verify_stale_after",
            self.status.verify_stale_after.as_ref(),
            DEFAULT_VERIFY_STALE_AFTER,
        )
    }

    fn repository_spec(
        &self,
        r: &RepositoryConfig,
        key: &'static str,
    ) -> Result<RepositorySpec, ConfigError> {
        let mut spec = RepositorySpec::new(r.url.clone());
        spec.endpoint = r.endpoint.clone();
        spec.region = r.region.clone();
        spec.path_style = r.path_style;
        spec.timeout = self.duration(key, r.timeout.as_ref(), spec.timeout)?;
        spec.timeout_setting = match key {
            "secrets_repository.timeout" => "[secrets_repository].timeout",
            _ => "[repository].timeout",
        };
        Ok(spec)
    }

    pub fn data_repository(&self) -> Result<RepositorySpec, ConfigError> {
        self.repository_spec(&self.repository, "repository.timeout")
    }

    pub fn secrets_repository(&self) -> Result<Option<RepositorySpec>, ConfigError> {
        self.secrets_repository
            .as_ref()
            .map(|r| self.repository_spec(r, "secrets_repository.timeout"))
            .transpose()
    }

    pub fn backup_spec(
        &self,
        paths: &LocalPaths,
        initiator: Initiator,
    ) -> Result<BackupSpec, ConfigError> {
        Ok(BackupSpec {
            source: SourceSpec {
                database_url: self.source.database_url.clone(),
                files: self.source.files.clone(),
                secrets: self.source.secrets.clone(),
                key_tables: self.source.key_tables.clone(),
                pg_bin_dir: self.source.pg_bin_dir.clone(),
            },
            repository: self.data_repository()?,
            secrets_repository: self.secrets_repository()?,
            encryption: self.encryption_spec()?,
            codec: self.codec()?,
            timeout: self.backup_timeout()?,
            initiator,
            paths: paths.clone(),
            spool_dir: self.backup.spool_dir.clone(),
            resume_only: false,
            purpose: None,
        })
    }

    pub fn verify_spec(
        &self,
        paths: &LocalPaths,
        target: VerifyTarget,
        decrypt: bool,
        initiator: crate::storage::manifest::Initiator,
    ) -> Result<VerifySpec, ConfigError> {
        Ok(VerifySpec {
            repository: self.data_repository()?,
            secrets_repository: self.secrets_repository()?,
            target,
            decrypt: if decrypt {
                Some(DecryptSpec {
                    encryption: self.encryption_spec()?,
                    pg_bin_dir: self.source.pg_bin_dir.clone(),
                    roots: self.configured_roots(),
                })
            } else {
                None
            },
            paths: paths.clone(),
            initiator,
        })
    }

    pub fn restore_spec(
        &self,
        paths: &LocalPaths,
        set: crate::storage::setid::SetId,
        options: RestoreOptions,
    ) -> Result<RestoreSpec, ConfigError> {
        let target_from_flag = options.target_url.is_some();
        let target_url = options
            .target_url
            .or_else(|| self.source.database_url.clone());
        if let Some(url) = &target_url {
            PgConn::parse(url).map_err(|e| self.invalid("restore --target-url", e.to_string()))?;
        }
        let safety_backup = if options.safety_backup {
            let mut spec = self.backup_spec(paths, Initiator::Operator)?;
            spec.source.database_url = target_url.clone();
            Some(spec)
        } else {
            None
        };
        Ok(RestoreSpec {
            repository: self.data_repository()?,
            secrets_repository: self.secrets_repository()?,
            set,
            encryption: self.encryption_spec()?,
            pg_bin_dir: self.source.pg_bin_dir.clone(),
            target: PgConn::new(target_url.as_deref()),
            roots: RootsSpec {
                files_to: destination(options.files_to),
                secrets_to: destination(options.secrets_to),
                map: options.map_roots,
                ..self.configured_roots()
            },
            restore_owners: options.restore_owners || self.restore.owners.unwrap_or(false),
            scratch_dir: self
                .restore
                .scratch_dir
                .clone()
                .unwrap_or_else(|| paths.data_dir.join("scratch")),
            jobs: options.jobs.or(self.restore.jobs).unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(2)
            }),
            hooks: Hooks {
                pre_restore: self.restore.pre_restore.clone(),
                post_restore: self.restore.post_restore.clone(),
                health: self.restore.health.clone(),
            },
            safety_backup,
            paths: paths.clone(),
            create_roles: options.create_roles,
            target_from_flag,
        })
    }

    /// The roots a restore may write to, as configured (`[source].files`, `[source].secrets`).
    pub fn configured_roots(&self) -> RootsSpec {
        RootsSpec {
            files: self.source.files.clone(),
            secrets: self.source.secrets.clone(),
            ..Default::default()
        }
    }

    /// (rto_target, rpo_target, every).
    pub fn drill_targets(&self) -> Result<(Duration, Duration, Duration), ConfigError> {
        Ok((
            self.duration(
                "drill.rto_target",
                self.drill.rto_target.as_ref(),
                DEFAULT_RTO_TARGET,
            )?,
            self.duration(
                "drill.rpo_target",
                self.drill.rpo_target.as_ref(),
                DEFAULT_RPO_TARGET,
            )?,
            self.duration(
                "drill.every",
                self.drill.every.as_ref(),
                DEFAULT_DRILL_EVERY,
            )?,
        ))
    }

    pub fn drill_spec(
        &self,
        paths: &LocalPaths,
        set: Option<crate::storage::setid::SetId>,
        initiator: Initiator,
    ) -> Result<DrillSpec, ConfigError> {
        let (rto_target, rpo_target, _) = self.drill_targets()?;
        Ok(DrillSpec {
            repository: self.data_repository()?,
            secrets_repository: self.secrets_repository()?,
            set,
            encryption: self.encryption_spec()?,
            pg_bin_dir: self.source.pg_bin_dir.clone(),
            server: self
                .drill
                .server_url
                .as_deref()
                .map(|u| PgConn::new(Some(u))),
            checks: self
                .drill
                .check
                .iter()
                .map(|c| SqlCheck {
                    name: c.name.clone(),
                    sql: c.sql.clone(),
                    expect: c.expect.clone(),
                })
                .collect(),
            freshness_query: self.drill.freshness_query.clone(),
            health_command: self.drill.health.clone(),
            manual: self.drill.manual.iter().map(|m| m.step.clone()).collect(),
            manual_input: None,
            rto_target,
            rpo_target,
            scratch_dir: self
                .restore
                .scratch_dir
                .clone()
                .unwrap_or_else(|| paths.data_dir.join("scratch")),
            roots: self.configured_roots(),
            jobs: self.restore.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(2)
            }),
            initiator,
            paths: paths.clone(),
        })
    }

    pub fn status_spec(&self, paths: &LocalPaths) -> Result<StatusSpec, ConfigError> {
        Ok(StatusSpec {
            repository: self.data_repository()?,
            paths: paths.clone(),
            spool_dir: self.backup.spool_dir.clone(),
            stale_after: self.stale_after()?,
            drill_every: self.drill_targets()?.2,
            verify_stale_after: self.verify_stale_after()?,
            wal: crate::jobs::wal::WalProbeSpec::configured(
                self.source.database_url.as_deref(),
                self.source.pg_bin_dir.clone(),
            ),
        })
    }

    /// What `prune` (headless, after `backup --prune`, or from the console) needs.
    pub fn prune_spec(
        &self,
        paths: &LocalPaths,
        initiator: Initiator,
    ) -> Result<PruneSpec, ConfigError> {
        Ok(PruneSpec {
            repository: self.data_repository()?,
            secrets_repository: self.secrets_repository()?,
            policy: self.retention_policy()?,
            paths: paths.clone(),
            spool_dir: self.backup.spool_dir.clone(),
            initiator,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[source]
database_url = "postgresql://app@localhost:5432/app"
files = ["/var/lib/app/uploads"]
secrets = ["/opt/app/.env"]
key_tables = ['"User"', "public.documents"]

[repository]
url = "s3://bucket/app"
endpoint = "http://127.0.0.1:9000"

[secrets_repository]
url = "file:///var/backups/app-secrets"

[encryption]
mode = "passphrase"
passphrase_file = "/etc/app/backup-passphrase"

[backup]
compression = "zstd"
level = 3
timeout = "30m"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/lifeboat/config.toml"), text)
    }

    #[test]
    fn the_example_and_a_full_config_parse() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.codec().unwrap().kind, CodecKind::Zstd);
        assert_eq!(c.backup_timeout().unwrap(), Duration::from_secs(1800));
        parse(EXAMPLE_CONFIG).unwrap();
    }

    #[test]
    fn unknown_keys_name_the_file_and_line() {
        let text = GOOD.replace("level = 3", "level = 3\ncompresion_level = 9");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("/etc/lifeboat/config.toml"), "{err}");
        assert!(err.contains("line 22"), "{err}");
        assert!(err.contains("compresion_level"), "{err}");
    }

    #[test]
    fn refuses_unsafe_or_wrong_settings() {
        let cases = [
            (
                GOOD.replace("mode = \"passphrase\"", "mode = \"none\""),
                "encryption.mode",
            ),
            (
                GOOD.replace("file:///var/backups/app-secrets", "s3://bucket/app"),
                "secrets_repository.url",
            ),
            (GOOD.replace("level = 3", "level = 42"), "backup.level"),
            (GOOD.replace("\"30m\"", "\"soon\""), "backup.timeout"),
            (
                GOOD.replace("'\"User\"'", "'x; drop table y'"),
                "source.key_tables",
            ),
            (
                GOOD.replace("/var/lib/app/uploads", "uploads"),
                "source.files",
            ),
            (
                GOOD.replace("/var/lib/app/uploads", "/var/lib/app/up\\nloads"),
                "control character",
            ),
            (
                GOOD.replace(
                    "postgresql://app@localhost:5432/app",
                    "host=localhost password='s3cret dbname=app",
                ),
                "source.database_url",
            ),
            (
                GOOD.replace(
                    "postgresql://app@localhost:5432/app",
                    "postgresql://app:s3cret%zz@localhost/app",
                ),
                "source.database_url",
            ),
        ];
        for (text, key) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
            assert!(!err.contains("s3cret"), "{key}: {err}");
        }
        // A TOML syntax error on the line of a connection string does not quote it.
        let broken = GOOD.replace(
            "\"postgresql://app@localhost:5432/app\"",
            "\"postgresql://app:s3cret\"x@localhost/app\"",
        );
        let err = parse(&broken).unwrap_err().to_string();
        assert!(err.contains("not shown"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }

    /// The roots come from the configuration; `--files-to /` is no wider than the default,
    /// and owners are restored only when asked (flag or `[restore].owners`).
    #[test]
    fn restore_roots_and_owners_are_the_operators() {
        let c = parse(GOOD).unwrap();
        let paths = LocalPaths {
            data_dir: "/tmp/d".into(),
            state_dir: "/tmp/s".into(),
            cache_dir: "/tmp/c".into(),
        };
        let set = crate::storage::setid::SetId::parse("20261122T020000Z-3f9a").unwrap();
        let spec = |c: &Config, o: RestoreOptions| c.restore_spec(&paths, set.clone(), o).unwrap();
        let s = spec(&c, RestoreOptions::default());
        assert_eq!(s.roots.files, vec![PathBuf::from("/var/lib/app/uploads")]);
        assert_eq!(s.roots.secrets, vec![PathBuf::from("/opt/app/.env")]);
        assert_eq!(s.roots.files_to, Destination::Configured);
        assert!(!s.restore_owners);
        let s = spec(
            &c,
            RestoreOptions {
                files_to: Some("//".into()),
                secrets_to: Some("/srv/restored".into()),
                ..Default::default()
            },
        );
        assert_eq!(s.roots.files_to, Destination::Configured);
        assert_eq!(
            s.roots.secrets_to,
            Destination::Under("/srv/restored".into())
        );
        let s = spec(
            &c,
            RestoreOptions {
                restore_owners: true,
                ..Default::default()
            },
        );
        assert!(s.restore_owners);
        let owners = parse(&format!("{GOOD}\n[restore]\nowners = true\n")).unwrap();
        assert!(spec(&owners, RestoreOptions::default()).restore_owners);
    }

    #[test]
    fn retention_is_optional_but_never_empty_or_misspelt() {
        let none = parse(GOOD).unwrap();
        let err = none.retention_policy().unwrap_err().to_string();
        assert!(err.contains("no [retention] table"), "{err}");
        assert!(err.contains("would delete every backup"), "{err}");

        let ok = parse(&format!("{GOOD}\n[retention]\nkeep_last = 3\ndaily = 7\n")).unwrap();
        assert_eq!(
            ok.retention_policy()
                .unwrap()
                .count(crate::storage::retention::Rule::Daily),
            7
        );
        assert!(EXAMPLE_CONFIG.contains("[retention]"));
        parse(EXAMPLE_CONFIG).unwrap().retention_policy().unwrap();

        for (body, needle) in [
            ("keep_last = 0", "would delete every backup"),
            ("daily = 7\ntimezone = \"Mars/Olympus\"", "Mars/Olympus"),
            ("daily = 7\nmin_age = \"soon\"", "soon"),
            ("daly = 7", "daly"),
        ] {
            let err = parse(&format!("{GOOD}\n[retention]\n{body}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
