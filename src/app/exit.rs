//! Exit codes of the headless commands: part of the interface (cron, systemd, monitoring).

/// Success.
pub const OK: i32 = 0;
/// The operation failed (details on stderr, or in the JSON `error`).
pub const FAILED: i32 = 1;
/// Bad usage or configuration: nothing was attempted.
pub const CONFIG: i32 = 2;
/// Verification found a damaged or missing object.
pub const DAMAGED: i32 = 3;
/// Another run holds the repository lock.
pub const LOCKED: i32 = 4;
/// The backup finished locally but the upload failed; the set waits in the spool (also:
/// `backup --resume` could not upload every spooled set).
pub const SPOOLED: i32 = 5;
/// Cancelled or timed out.
pub const INTERRUPTED: i32 = 6;
