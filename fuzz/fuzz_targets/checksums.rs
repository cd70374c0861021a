#![no_main]
//! `Checksums::parse` on arbitrary text: never panics; what it accepts holds only plain object
//! names and 64-hex hashes, and renders back to the same map.
use libfuzzer_sys::fuzz_target;
use lifeboat::storage::checksums::Checksums;
use lifeboat::storage::layout::is_valid_object_name;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Checksums::parse(text) {
        for (name, hash) in &c.0 {
            assert!(is_valid_object_name(name), "{name:?}");
            assert_eq!(hash.len(), 64);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_eq!(Checksums::parse(&c.render()).expect("render re-parses"), c);
    }
});
