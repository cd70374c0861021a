//! The leaf layer: everything that touches bytes at rest or a child process, and nothing that
//! knows about jobs or screens. Repositories (local directory or S3 through OpenDAL), the set
//! layout and its formats (set ids, manifest, checksums), the run journal, the repository lock,
//! the stream codecs and hashing, writing restored files (`unpack`), gpg, and the one PostgreSQL
//! adapter (`pg`); the S3 side channel for open multipart uploads; and storage fault injection, off unless a test turns it on.

pub mod archive;
pub mod beneath;
pub mod checksums;
pub mod child;
pub mod codec;
pub mod control_text;
pub mod fault;
pub mod gpg;
pub mod gpg_by_hand;
pub(crate) mod gpg_home;
pub mod gpg_keys;
pub(crate) mod gpg_run;
pub mod hashing;
pub mod journal;
pub mod layout;
pub mod local_cluster;
pub mod lock;
pub mod manifest;
pub mod orphans;
pub mod passphrase_file;
pub mod paths;
pub mod pg;
pub mod pg_cluster;
pub mod repository;
pub mod retention;
pub mod roots;
pub mod s3_uploads;
pub mod setid;
pub mod targets;
pub mod units;
pub mod unpack;

// The adapter's former paths: call sites written against them (and code merged from other
// branches) keep compiling. New code names `storage::pg`.
pub use pg as postgres;
pub use pg::conninfo;
