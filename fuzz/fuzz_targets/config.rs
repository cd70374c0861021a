#![no_main]
//! `Config::parse` on arbitrary text: never panics; every error names the file.
use libfuzzer_sys::fuzz_target;
use lifeboat::app::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/lifeboat/config.toml");
    match Config::parse(path, text) {
        Ok(c) => {
            let _ = c.codec();
            let _ = c.backup_timeout();
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("/etc/lifeboat/config.toml"), "{message}");
        }
    }
});
