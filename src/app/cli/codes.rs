//! Which exit code each job's result gets, one mapping per job, so every command that runs a
//! job (`backup` and `backup --prune`, `restore` and its dry run, `prune`) answers alike. The
//! codes themselves are the one table in `jobs::exit_code`.

use crate::app::exit;
use crate::jobs::backup::BackupError;
use crate::jobs::fetch::FetchError;
use crate::jobs::pins::PinError;
use crate::jobs::prune::PruneError;
use crate::jobs::recover::RecoverError;
use crate::jobs::restore::RestoreError;

pub fn backup<T>(result: &Result<T, BackupError>) -> i32 {
    match result {
        Ok(_) => exit::OK,
        Err(e) => backup_error(e),
    }
}

/// A backup's code: 5 both for a set left in the spool and for `--resume` leaving some there,
/// as the exit-code table says.
pub fn backup_error(e: &BackupError) -> i32 {
    match e {
        BackupError::Lock(_) => exit::LOCKED,
        BackupError::Spooled { .. } | BackupError::ResumeIncomplete { .. } => exit::SPOOLED,
        BackupError::Cancelled | BackupError::TimedOut(_) => exit::INTERRUPTED,
        BackupError::Config(_) => exit::CONFIG,
        _ => exit::FAILED,
    }
}

pub fn prune(e: &PruneError) -> i32 {
    match e {
        PruneError::Lock(_) => exit::LOCKED,
        PruneError::Cancelled { .. } => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

pub fn restore(e: &RestoreError) -> i32 {
    match e {
        RestoreError::Fetch(FetchError::Damaged { .. }) => exit::DAMAGED,
        RestoreError::Unreadable { .. } | RestoreError::Damaged { .. } => exit::DAMAGED,
        RestoreError::Cancelled(_) => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

/// A refusal before anything changed is a usage code; a set that fails verification is
/// "damaged", as `verify` says it.
pub fn recover(e: &RecoverError) -> i32 {
    match e {
        RecoverError::SetDamaged { .. } => exit::DAMAGED,
        RecoverError::Cancelled { .. } => exit::INTERRUPTED,
        RecoverError::NothingToResume(_) => exit::CONFIG,
        RecoverError::Locked { .. } => exit::LOCKED,
        e if e.is_refusal() => exit::CONFIG,
        _ => exit::FAILED,
    }
}

pub fn pin(e: &PinError) -> i32 {
    match e {
        PinError::EmptyNote => exit::CONFIG,
        PinError::Lock(_) => exit::LOCKED,
        _ => exit::FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::backup::BackupOutcome;
    use crate::storage::setid::SetId;

    #[test]
    fn a_resume_that_left_sets_in_the_spool_exits_as_spooled() {
        let e = BackupError::ResumeIncomplete {
            problems: vec!["upload failed".into()],
            resumed: Vec::<SetId>::new(),
        };
        assert_eq!(backup::<BackupOutcome>(&Err(e)), exit::SPOOLED);
    }
}
