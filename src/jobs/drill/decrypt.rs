//! The drill's decrypt phase: the dump to scratch, and every archive read back through the
//! restore's own safety checks.

use super::failure::DrillFailure;
use crate::jobs::fetch::Fetched;
use crate::jobs::restore;
use crate::storage::archive;
use crate::storage::gpg::Crypto;
use crate::storage::manifest::{ComponentKind, Manifest};
use crate::storage::roots::{place, RootsSpec};
use crate::storage::units;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Decrypts the dump to scratch and reads every archive through the restore's safety checks
/// against the configured roots (`storage::roots::place`, the same walk): a set the restore
/// would refuse fails the drill. The drill writes no files, so nothing on disk is looked at.
pub(super) fn decrypt_all(
    fetched: &[Fetched],
    crypto: &Crypto,
    dump: &std::path::Path,
    manifest: &Manifest,
    roots: &RootsSpec,
) -> Result<(String, u64), DrillFailure> {
    let mut parts = Vec::new();
    let mut dump_bytes = 0;
    for f in fetched {
        let counter = Arc::new(AtomicU64::new(0));
        match f.component.kind {
            ComponentKind::Db => {
                let n = restore::decrypt_with(f, crypto, counter, |decoded| {
                    restore::write_dump(decoded, dump)
                })
                .map_err(|e| DrillFailure::ReadBack(Box::new(e)))?;
                dump_bytes = n;
                parts.push(format!("dump {}", units::bytes(n)));
            }
            ComponentKind::Files | ComponentKind::Secrets => {
                let placement = place(f.component.kind, manifest, roots).map_err(|source| {
                    DrillFailure::Placement {
                        object: f.component.object.clone(),
                        source,
                    }
                })?;
                let l = restore::decrypt_with(f, crypto, counter, |decoded| {
                    archive::list(decoded, &placement, false)
                })
                .map_err(|e| DrillFailure::ReadBack(Box::new(e)))?;
                parts.push(format!(
                    "{}: {} files read back",
                    f.component.kind.as_str(),
                    l.files
                ));
            }
        }
    }
    Ok((
        format!("stored and plaintext hashes match; {}", parts.join(", ")),
        dump_bytes,
    ))
}
