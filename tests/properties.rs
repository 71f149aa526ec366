//! Properties over generated input (proptest): manifests round-trip through
//! our serializer, every artifact we write verifies, and no change to a
//! signed artifact is accepted with entries other than the signed ones.

use cargo_palyra_skill::artifact::Entries;
use cargo_palyra_skill::manifest::{Manifest, SecretScope};
use cargo_palyra_skill::pack::{self, Parts};
use cargo_palyra_skill::signing::SecretKey;
use cargo_palyra_skill::verify::verify_bytes;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::fixture_text;

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4).prop_map(|parts| parts.join("."))
}

/// Any text TOML can hold, including quotes, backslashes, newlines and
/// non-ASCII: the serializer must escape all of it.
fn text() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,24}".prop_map(|s| format!("x{s}"))
}

fn schema() -> impl Strategy<Value = Value> {
    let property = prop_oneof![
        Just(json!({ "type": "string" })),
        Just(json!({ "type": "integer", "minimum": 0 })),
        Just(json!({ "type": "boolean" })),
        text().prop_map(|d| json!({ "type": "string", "description": d })),
    ];
    prop::collection::btree_map(label(), property, 0..4).prop_map(|props| {
        let required: Vec<_> = props.keys().take(1).cloned().collect();
        json!({ "type": "object", "properties": props, "required": required })
    })
}

fn version() -> impl Strategy<Value = String> {
    (0u32..50, 0u32..50, 0u32..50).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

prop_compose! {
    fn manifest()(
        publisher in label(),
        name in label(),
        display in text(),
        version in version(),
        tools in prop::collection::vec((label(), text(), text(), schema(), schema(), any::<bool>()), 1..4),
        hosts in prop::collection::vec(host(), 0..4),
        secrets in prop::collection::vec((label(), prop::collection::vec(label(), 1..3)), 0..3),
        roots in prop::collection::vec(label(), 0..3),
        quotas in (1u64..10_000_000, 1u64..u32::MAX as u64, 65_536u64..1 << 32),
    ) -> Manifest {
        let mut m = Manifest::parse(&fixture_text("manifests/minimal.toml")).unwrap();
        m.skill_id = format!("{publisher}.{name}");
        m.name = display;
        m.version = version;
        m.entrypoints.tools = tools
            .into_iter()
            .enumerate()
            .map(|(i, (id, tool_name, description, input, output, approval))| {
                let mut tool = m.entrypoints.tools[0].clone();
                tool.id = format!("{publisher}.{id}{i}");
                tool.name = tool_name;
                tool.description = description;
                tool.input_schema = input;
                tool.output_schema = output;
                tool.risk.requires_approval = approval;
                tool
            })
            .collect();
        m.publisher = publisher;
        let c = &mut m.capabilities;
        c.http_egress_allowlist = hosts;
        c.secrets = secrets
            .into_iter()
            .map(|(scope, key_names)| SecretScope { scope: format!("skill:{scope}"), key_names })
            .collect();
        c.filesystem.write_roots = roots.iter().map(|r| format!("state/{r}")).collect();
        (c.quotas.wall_clock_timeout_ms, c.quotas.fuel_budget, c.quotas.max_memory_bytes) = quotas;
        m
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_manifest_we_serialize_parses_back_equal(m in manifest()) {
        m.validate().map_err(|e| TestCaseError::fail(format!("generator made an invalid manifest: {e}")))?;
        let text = m.to_toml();
        let parsed = Manifest::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed, m);
    }
}

fn key(seed: [u8; 32]) -> SecretKey {
    SecretKey::from_seed(&seed)
}

prop_compose! {
    fn artifact()(
        m in manifest(),
        module in prop::collection::vec(any::<u8>(), 0..2048),
        asset in prop::collection::vec(any::<u8>(), 0..512),
        seed in any::<[u8; 32]>(),
        signed_at in 0i64..4_000_000_000_000,
    ) -> (Entries, Vec<u8>) {
        let (mut entries, manifest) = pack::assemble(Parts {
            manifest_text: m.to_toml(),
            modules: vec![("main.wasm".into(), [b"\0asm\x01\0\0\0".as_slice(), &module].concat())],
            assets: vec![("notes.txt".into(), asset)],
            sbom: crate::support::read_fixture("vectors/inputs/sbom.cdx.json"),
            provenance: crate::support::read_fixture("vectors/inputs/provenance.json"),
        })
        .unwrap();
        pack::sign(&mut entries, &manifest.publisher, &key(seed), signed_at).unwrap();
        let zip = entries.to_zip().unwrap();
        (entries, zip)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_artifact_we_write_verifies((entries, zip) in artifact()) {
        let (read, verified) = verify_bytes(&zip).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified.payload_sha256, entries.payload_sha256());
        let contents = |e: &Entries| e.iter().map(|(p, e)| (p.to_owned(), e.bytes.clone())).collect::<Vec<_>>();
        prop_assert_eq!(contents(&read), contents(&entries));
    }

    #[test]
    fn a_changed_byte_in_any_signed_entry_is_rejected(
        (entries, _) in artifact(),
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        // Every entry but `signature.json`, whose signing time the format
        // leaves unsigned (see tests/verify.rs for the exhaustive account).
        let signed: Vec<_> = entries.iter().filter(|(p, e)| *p != "signature.json" && !e.bytes.is_empty()).collect();
        let (path, entry) = signed[pick.index(signed.len())];
        let mut bytes = entry.bytes.clone();
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
        let mut tampered = entries.clone();
        tampered.set(path, bytes).unwrap();
        prop_assert!(verify_bytes(&tampered.to_zip().unwrap()).is_err(), "a change to `{}` was accepted", path);
    }

    #[test]
    fn no_change_to_the_file_is_accepted_with_other_entries(
        (entries, zip) in artifact(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut file = zip.clone();
        for (at, mask) in changes {
            file[at.index(zip.len())] ^= mask;
        }
        if let Ok((read, _)) = verify_bytes(&file) {
            for (path, entry) in read.iter() {
                let original = entries.get(path).map(|e| &e.bytes);
                if path == "signature.json" {
                    // Only the unsigned signing time may differ.
                    let strip = |b: &[u8]| String::from_utf8_lossy(b).split("\"signed_at_unix_ms\"").next().unwrap().to_owned();
                    prop_assert_eq!(strip(&entry.bytes), strip(original.unwrap()));
                } else {
                    prop_assert_eq!(Some(&entry.bytes), original, "`{}` changed but verified", path);
                }
            }
            prop_assert_eq!(read.len(), entries.len());
        }
    }
}
