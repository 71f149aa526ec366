//! The trust-store loader on arbitrary bytes. A store that loads must save
//! to JSON that loads back equal, and decide for any publisher without panic.
#![no_main]

use cargo_palyra_skill::signing::SecretKey;
use cargo_palyra_skill::trust::TrustStore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut store) = TrustStore::from_json(data) else {
        return;
    };
    let again = TrustStore::from_json(&store.to_json()).expect("a saved store loads");
    assert_eq!(again, store);
    let key = SecretKey::from_seed(&[7; 32]).public();
    let publishers: Vec<String> =
        store.trusted_publishers.keys().chain(store.tofu_publishers.keys()).cloned().collect();
    for publisher in publishers.iter().map(String::as_str).chain(["acme", ""]) {
        let _ = store.decide(publisher, &key, true);
    }
});
