//! The consumer's conformance vectors (copied from `shared/vectors` into
//! `fixtures/vectors`): payload hashes, key ids, entry hashes and trust
//! decisions must come out exactly as recorded.

use cargo_palyra_skill::artifact::{Entries, sha256_hex};
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::signing::{PublicKey, SecretKey, SignatureRecord};
use cargo_palyra_skill::trust::{TrustDecision, TrustStore};
use cargo_palyra_skill::verify::verify_bytes;
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vectors");
const NAMES: [&str; 2] = ["reference-echo.palyra-skill", "reference-echo-asset.palyra-skill"];

fn vectors() -> Value {
    serde_json::from_slice(&std::fs::read(format!("{DIR}/vectors.json")).unwrap()).unwrap()
}

fn artifact(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap()
}

#[test]
fn vectors_verify_with_the_recorded_hashes_and_key_ids() {
    let vectors = vectors();
    for name in NAMES {
        let expected = &vectors[name];
        let bytes = artifact(name);
        assert_eq!(sha256_hex(&bytes), expected["artifact_sha256"], "{name}");
        let (entries, verified) = verify_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(verified.payload_sha256, expected["payload_sha256"], "{name}");
        assert_eq!(verified.signature.key_id, expected["key_id"], "{name}");
        assert_eq!(verified.public_key.to_hex(), expected["public_key_hex"], "{name}");
        let recorded = expected["entries"].as_object().unwrap();
        assert_eq!(entries.len(), recorded.len(), "{name}");
        for (path, entry) in entries.iter() {
            assert_eq!(entry.sha256_hex(), recorded[path], "{name}: {path}");
        }
    }
}

#[test]
fn vectors_get_the_recorded_trust_decisions() {
    let vectors = vectors();
    for name in NAMES {
        let expected = &vectors[name];
        let (_, verified) = verify_bytes(&artifact(name)).unwrap();
        let mut store = TrustStore::default();
        let decision = store.decide(&verified.manifest.publisher, &verified.public_key, true).unwrap();
        assert_eq!(decision.as_str(), expected["expected_verify_with_empty_store_and_tofu"]);
        assert_eq!(store.tofu_publishers["acme"], expected["public_key_hex"]);

        let mut allowlist = TrustStore::default();
        let key = PublicKey::from_hex(expected["public_key_hex"].as_str().unwrap()).unwrap();
        allowlist.trust("acme", &key).unwrap();
        assert_eq!(allowlist.decide("acme", &verified.public_key, false), Ok(TrustDecision::Allowlisted));
    }
}

#[test]
fn the_test_key_reproduces_the_vector_signatures_byte_for_byte() {
    let vectors = vectors();
    let key = SecretKey::decode(vectors["test_signing_key_hex"].as_str().unwrap().as_bytes()).unwrap();
    for name in NAMES {
        let entries = Entries::read_zip(&artifact(name)).unwrap();
        let original = entries.get("signature.json").unwrap();
        let record = SignatureRecord::from_json(&original.bytes).unwrap();
        let ours = key.sign_payload("acme", &entries.payload_sha256(), record.signed_at_unix_ms);
        assert_eq!(ours.to_json(), original.bytes, "{name}");
    }
}

#[test]
fn our_writer_reproduces_the_vector_archives_byte_for_byte() {
    let vectors = vectors();
    for name in NAMES {
        let entries = Entries::read_zip(&artifact(name)).unwrap();
        let rewritten = entries.to_zip().unwrap();
        assert_eq!(sha256_hex(&rewritten), vectors[name]["artifact_sha256"], "{name}");
    }
}

#[test]
fn the_vector_manifest_input_parses_to_the_packed_manifest() {
    let input = std::fs::read_to_string(format!("{DIR}/inputs/skill.toml")).unwrap();
    let input = Manifest::parse(&input).unwrap();
    let entries = Entries::read_zip(&artifact(NAMES[0])).unwrap();
    let mut packed = Manifest::parse_bytes(&entries.get("skill.toml").unwrap().bytes).unwrap();
    packed.integrity = Default::default();
    assert_eq!(input, packed);
}
