//! `lifeboat verify`: every object of a set (or of all sets) re-hashed, optionally decrypted
//! and read back; the report as text or `--json`, one stderr line per set that did not verify,
//! and exit 3 when something is damaged.

use super::common::{cancel_on_ctrl_c, print_json, stderr_reporter};
use crate::app::config::Config;
use crate::app::exit;
use crate::jobs::verify::{self, VerifyTarget};
use crate::report;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    target: VerifyTarget,
    decrypt: bool,
    initiator: Initiator,
    json: bool,
) -> i32 {
    let spec = match config.verify_spec(paths, target, decrypt, initiator) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let (reporter, printer) = stderr_reporter();
    let result = verify::run(spec, reporter, cancel_on_ctrl_c()).await;
    let _ = printer.await;
    match result {
        Ok(report) => {
            if json {
                print_json(&report);
            } else {
                print!("{}", report::verify::text(&report));
            }
            for line in report::verify::failures(&report) {
                eprintln!("lifeboat: {line}");
            }
            if report.ok() {
                exit::OK
            } else {
                exit::DAMAGED
            }
        }
        Err(e) => {
            if json {
                print_json(&serde_json::json!({ "ok": false, "error": e.to_string() }));
            }
            eprintln!("lifeboat: {}", report::outcome::verify_error_line(&e));
            exit::FAILED
        }
    }
}
