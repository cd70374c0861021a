#![no_main]
//! `Manifest::parse` on arbitrary bytes: never panics; whatever it accepts names only plain
//! objects and the set it was read from, and survives a round trip.
use libfuzzer_sys::fuzz_target;
use lifeboat::storage::layout::is_valid_object_name;
use lifeboat::storage::manifest::Manifest;

const SET: &str = "20261122T020000Z-3f9a";

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(SET, data) {
        assert_eq!(m.set_id, SET);
        assert!(m.components.iter().all(|c| is_valid_object_name(&c.object)));
        let _ = m.data_bytes();
        let _ = m.encryption_summary();
        let again = Manifest::parse(SET, &m.to_json()).expect("a parsed manifest re-parses");
        assert_eq!(again.components.len(), m.components.len());
    }
});
