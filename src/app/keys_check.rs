//! `lifeboat keys check`: can today's backups be opened, and is everything needed to open
//! them kept apart from them? For each configured recipient: the key is in the keyring,
//! usable, and not expiring within 30 days; the passphrase file exists, is 0600 or stricter
//! and is not inside what is backed up; a test envelope encrypts and decrypts with the keys at
//! hand, and a second one with the README's by-hand `gpg` command (`storage::gpg_by_hand`); the
//! secrets repository is a different target from the data repository. Then the recovery-kit
//! checklist. Exit 1 when a check fails; warnings do not fail it.
//!
//! A recipients-mode host without the secret key (an "encrypt-only" host, which is what
//! recipients mode is for: a stolen host cannot read old backups) gets a warning, not a
//! failure: the decryption proof has to be made where the secret key lives.

use super::config::Config;
use super::exit;
use crate::storage::gpg::{read_passphrase, EncryptionSpec};
use crate::storage::gpg_by_hand;
use crate::storage::gpg_keys::{self, RecipientKey};
use crate::storage::targets::{self, Relation};
use chrono::{Duration as Span, Utc};
use serde::Serialize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// A key that stops encrypting within this many days fails the check.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

#[derive(Debug, clap::Subcommand)]
pub enum KeysAction {
    /// Check key custody: keys present, usable and not expiring soon, passphrase file private,
    /// a test envelope that encrypts and decrypts, secrets kept apart; prints the recovery kit.
    Check {
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warning,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub level: Level,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct KeysReport {
    pub ok: bool,
    pub mode: String,
    pub checks: Vec<Check>,
    pub recipients: Vec<RecipientKey>,
    pub recovery_kit: Vec<String>,
}

fn check(list: &mut Vec<Check>, name: &str, level: Level, detail: impl Into<String>) {
    list.push(Check {
        check: name.to_string(),
        level,
        detail: detail.into(),
    });
}

fn passphrase_checks(config: &Config, file: &Path, checks: &mut Vec<Check>) {
    match std::fs::metadata(file) {
        Err(e) => check(
            checks,
            "passphrase file",
            Level::Failed,
            format!(
                "{}: {e}; without the passphrase no set can be opened",
                file.display()
            ),
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                check(
                    checks,
                    "passphrase file",
                    Level::Failed,
                    format!(
                        "{} is mode {mode:04o}: others can read the key to every backup; chmod 600 {}",
                        file.display(),
                        file.display()
                    ),
                );
            } else {
                check(
                    checks,
                    "passphrase file",
                    Level::Ok,
                    format!(
                        "{} is mode {mode:04o}, owner uid {}",
                        file.display(),
                        meta.uid()
                    ),
                );
            }
            if let Err(e) = read_passphrase(file) {
                check(checks, "passphrase file", Level::Failed, e.to_string());
            }
        }
    }
    // A backup cannot hold the key that opens it: if the host is lost, so is the key.
    let inside = config
        .source
        .files
        .iter()
        .chain(&config.source.secrets)
        .find(|root| targets::lexical(file).starts_with(targets::lexical(root)));
    if let Some(root) = inside {
        check(
            checks,
            "passphrase custody",
            Level::Warning,
            format!(
                "{} is inside {}, which is backed up with it: a set cannot carry the key that opens it; keep a copy off this host",
                file.display(),
                root.display()
            ),
        );
    }
}

fn recipient_checks(key: &RecipientKey, checks: &mut Vec<Check>) {
    let name = format!(
        "key {}{}",
        key.recipient,
        key.fingerprint
            .as_deref()
            .filter(|f| *f != key.recipient)
            .map(|f| format!(" ({f})"))
            .unwrap_or_default()
    );
    if let Some(problem) = &key.problem {
        check(
            checks,
            &name,
            Level::Failed,
            format!("{problem} (import it with `gpg --import`, or fix [encryption].recipients)"),
        );
        return;
    }
    let now = Utc::now();
    match key.expires {
        Some(t) if t - now < Span::days(EXPIRY_WARNING_DAYS) => check(
            checks,
            &name,
            Level::Failed,
            format!(
                "stops encrypting on {}, in {} day(s) (under {EXPIRY_WARNING_DAYS}): extend it (gpg --quick-set-expire {} 1y '*' and gpg --quick-set-expire {} 1y), then re-import the public key wherever backups run",
                t.format("%Y-%m-%d"),
                (t - now).num_days(),
                key.fingerprint.as_deref().unwrap_or("FPR"),
                key.fingerprint.as_deref().unwrap_or("FPR"),
            ),
        ),
        Some(t) => check(
            checks,
            &name,
            Level::Ok,
            format!("usable; expires {}", t.format("%Y-%m-%d")),
        ),
        None => check(checks, &name, Level::Ok, "usable; never expires"),
    }
    if !key.has_secret {
        check(
            checks,
            &name,
            Level::Warning,
            "encrypt-only host: decryption needs the secret key elsewhere; prove it there (gpg --decrypt of a downloaded object)",
        );
    }
}

/// Runs the README's by-hand command on a fresh envelope, once the round trip worked: what
/// proves an operator without lifeboat opens today's sets.
fn by_hand_check(spec: &EncryptionSpec, checks: &mut Vec<Check>) {
    let name = "by-hand decryption";
    let round_trip = checks.iter().find(|c| c.check == "round trip");
    match round_trip.map(|c| c.level) {
        None => {}
        Some(Level::Ok) => match gpg_by_hand::prove(spec) {
            Ok(done) => check(
                checks,
                name,
                Level::Ok,
                format!(
                    "`{}` (the README's command, in {}) gave back the test envelope",
                    done.command, done.home
                ),
            ),
            Err(e) => check(checks, name, Level::Failed, e.to_string()),
        },
        Some(Level::Warning) => check(
            checks,
            name,
            Level::Warning,
            "not run: it needs the secret key, which is not on this host",
        ),
        Some(Level::Failed) => check(
            checks,
            name,
            Level::Failed,
            "not attempted: the round trip failed (above)",
        ),
    }
}

fn repository_checks(config: &Config, checks: &mut Vec<Check>) {
    let (Ok(data), Ok(secrets)) = (config.data_repository(), config.secrets_repository()) else {
        check(
            checks,
            "secrets repository",
            Level::Failed,
            "the repository settings do not parse (see `lifeboat config check`)",
        );
        return;
    };
    let Some(secrets) = secrets else {
        check(
            checks,
            "secrets repository",
            Level::Ok,
            "none configured (no [source].secrets)",
        );
        return;
    };
    match targets::relation(&data, &secrets, true) {
        Relation::Same => check(
            checks,
            "secrets repository",
            Level::Failed,
            format!("{} is the same target as the data repository {}: secrets need a separate one, so one leaked bucket does not leak both", secrets.url, data.url),
        ),
        Relation::Nested => check(
            checks,
            "secrets repository",
            Level::Failed,
            format!("{} and the data repository {} contain one another: whoever reads one reads both; use a separate target", secrets.url, data.url),
        ),
        Relation::SameBucket => check(
            checks,
            "secrets repository",
            Level::Warning,
            format!("{} is in the same bucket as the data repository {}: one credential likely opens both; prefer another bucket (or account)", secrets.url, data.url),
        ),
        Relation::Separate => check(
            checks,
            "secrets repository",
            Level::Ok,
            format!("{} is separate from the data repository {}", secrets.url, data.url),
        ),
    }
}

fn recovery_kit(config: &Config, spec: &EncryptionSpec, keys: &[RecipientKey]) -> Vec<String> {
    let mut kit = Vec::new();
    match spec {
        EncryptionSpec::Passphrase { passphrase_file } => kit.push(format!(
            "the passphrase: the first line of {} (copy it to a password manager or a sealed envelope; without it no set can be opened)",
            passphrase_file.display()
        )),
        EncryptionSpec::Recipients { .. } => {
            for k in keys {
                let fpr = k.fingerprint.as_deref().unwrap_or(&k.recipient);
                kit.push(format!(
                    "the secret key {fpr}{}: `gpg --export-secret-keys --armor {fpr} > lifeboat-key.asc`, stored offline with its passphrase",
                    k.user_id.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
                ));
            }
        }
        EncryptionSpec::None => kit.push("no encryption key (encryption is off)".into()),
    }
    let describe = |r: &super::config::RepositoryConfig| {
        let mut s = r.url.clone();
        if let Some(e) = &r.endpoint {
            s.push_str(&format!(" (endpoint {e}"));
            if let Some(region) = &r.region {
                s.push_str(&format!(", region {region}"));
            }
            s.push(')');
        }
        s
    };
    // A local directory dies with the host unless something copies it away.
    let reach = |r: &super::config::RepositoryConfig| {
        if r.url.starts_with("s3://") {
            "and the credentials to read it (they are not in the configuration)"
        } else {
            "(a local directory: it survives the host only if it is copied elsewhere)"
        }
    };
    kit.push(format!(
        "where the data is: {} {}",
        describe(&config.repository),
        reach(&config.repository)
    ));
    if let Some(s) = &config.secrets_repository {
        kit.push(format!(
            "where the secrets are: {} {}",
            describe(s),
            reach(s)
        ));
    }
    kit.push(format!("this configuration: {}", config.path.display()));
    kit.push(format!(
        "recovering onto a new host with nothing but the kit (README, \"Disaster recovery\"); AWS credentials in the environment:\n      {}",
        recover_command(config, spec)
    ));
    // The command `keys check` runs itself (`by_hand_check`), so the kit cannot drift from it.
    let gpg = gpg_by_hand::arguments(spec)
        .map(|args| format!("gpg {}", args.join(" ")))
        .unwrap_or_else(|| "gpg --decrypt".into());
    kit.push(format!(
        "restoring without lifeboat (README, \"Restoring a set by hand\"), in a downloaded set folder:\n      sha256sum -c checksums.sha256\n      {gpg} db.dump.zst.gpg | zstd -d > db.dump\n      createdb app_restored && pg_restore --no-owner -d app_restored db.dump\n      {gpg} files.tar.zst.gpg | zstd -d | tar -xpf - -C /\n      {gpg} secrets.tar.gpg | tar -xpf - -C /     (from the secrets repository)"
    ));
    kit
}

/// The `lifeboat recover` command for this repository: URLs, S3 options and the key source,
/// never a secret (the passphrase stays in its file, the credentials in the environment).
fn recover_command(config: &Config, spec: &EncryptionSpec) -> String {
    use crate::jobs::restore_db::shell_word;
    let mut words = vec![
        "lifeboat recover --repository".to_string(),
        shell_word(&config.repository.url),
    ];
    let r = &config.repository;
    let s3 = [config.secrets_repository.as_ref(), Some(r)];
    let endpoint = s3.iter().flatten().find_map(|r| r.endpoint.clone());
    if let Some(e) = endpoint {
        words.extend(["--endpoint".into(), shell_word(&e)]);
    }
    if let Some(region) = s3.iter().flatten().find_map(|r| r.region.clone()) {
        words.extend(["--region".into(), shell_word(&region)]);
    }
    if let Some(p) = s3.iter().flatten().find_map(|r| r.path_style) {
        words.extend(["--path-style".into(), p.to_string()]);
    }
    if let Some(secrets) = &config.secrets_repository {
        words.extend(["--secrets-repository".into(), shell_word(&secrets.url)]);
    }
    if let EncryptionSpec::Passphrase { passphrase_file } = spec {
        words.extend([
            "--passphrase-file".into(),
            shell_word(&passphrase_file.display().to_string()),
        ]);
    }
    words.push("--new-cluster /var/lib/postgresql/recovered --dry-run".into());
    words.join(" ")
}

pub fn evaluate(config: &Config) -> KeysReport {
    let mut checks = Vec::new();
    let mut keys = Vec::new();
    let spec = match config.encryption_spec() {
        Ok(s) => s,
        Err(e) => {
            check(&mut checks, "encryption", Level::Failed, e.to_string());
            EncryptionSpec::None
        }
    };
    match &spec {
        EncryptionSpec::None => check(
            &mut checks,
            "encryption",
            Level::Warning,
            "encryption is off: anyone who reads the repository reads the database",
        ),
        EncryptionSpec::Passphrase { passphrase_file } => {
            passphrase_checks(config, passphrase_file, &mut checks)
        }
        EncryptionSpec::Recipients { recipients } => {
            for r in recipients {
                let key = gpg_keys::inspect(r);
                recipient_checks(&key, &mut checks);
                keys.push(key);
            }
        }
    }
    let usable = keys.iter().all(|k| k.problem.is_none());
    let all_secret = keys.iter().all(|k| k.has_secret);
    match &spec {
        EncryptionSpec::None => {}
        EncryptionSpec::Recipients { .. } if !usable => check(
            &mut checks,
            "round trip",
            Level::Failed,
            "not attempted: a recipient key cannot be used (above)",
        ),
        EncryptionSpec::Recipients { .. } if !all_secret => match gpg_keys::encrypts(&spec) {
            Ok(()) => check(
                &mut checks,
                "round trip",
                Level::Warning,
                "a test envelope encrypts; decrypting it needs the secret key, which is not on this host",
            ),
            Err(e) => check(&mut checks, "round trip", Level::Failed, e.to_string()),
        },
        _ => match gpg_keys::round_trip(&spec) {
            Ok(()) => check(
                &mut checks,
                "round trip",
                Level::Ok,
                "a test envelope encrypts and decrypts with the keys available here",
            ),
            Err(e) => check(&mut checks, "round trip", Level::Failed, e.to_string()),
        },
    }
    by_hand_check(&spec, &mut checks);
    repository_checks(config, &mut checks);
    KeysReport {
        ok: !checks.iter().any(|c| c.level == Level::Failed),
        mode: config.encryption.mode.clone(),
        recovery_kit: recovery_kit(config, &spec, &keys),
        checks,
        recipients: keys,
    }
}

pub fn text(report: &KeysReport) -> String {
    let mut out = String::new();
    for c in &report.checks {
        let mark = match c.level {
            Level::Ok => "✓",
            Level::Warning => "!",
            Level::Failed => "✗",
        };
        out.push_str(&format!("{mark} {}: {}\n", c.check, c.detail));
    }
    out.push_str(
        "\nRecovery kit: keep these OFF this host (a password manager, a safe, a second site):\n",
    );
    for item in &report.recovery_kit {
        out.push_str(&format!("  [ ] {item}\n"));
    }
    out
}

pub fn run(config: &Config, action: KeysAction) -> i32 {
    let KeysAction::Check { json } = action;
    let report = evaluate(config);
    if json {
        super::cli::print_json(&report);
    } else {
        print!("{}", text(&report));
    }
    if report.ok {
        exit::OK
    } else {
        exit::FAILED
    }
}
