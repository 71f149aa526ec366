//! `audit`: the consumer's verdict and check ids for each consumer check,
//! each of our findings triggered and not, SARIF that validates against the
//! SARIF 2.1.0 schema, and malformed modules that never panic.

use std::path::PathBuf;

use crate::support::*;
use cargo_palyra_skill::artifact::sha256_hex;
use cargo_palyra_skill::audit::{self, AuditReport, Policy, Status, Subject};
use cargo_palyra_skill::host::OperatorConfig;
use cargo_palyra_skill::manifest::Manifest;
use cargo_palyra_skill::pack::{self, Parts};
use predicates::prelude::*;
use serde_json::{Value, json};

/// The vector's echo module: imports `http-count`/`http-handle`, exports `run` and memory.
/// (No `$names`, which would add a `name` section.)
const ECHO: &str = r#"(module
  (import "palyra:plugins/host-capabilities@0.1.0" "http-count" (func (result i32)))
  (import "palyra:plugins/host-capabilities@0.1.0" "http-handle" (func (param i32) (result i32)))
  (memory (export "memory") 1 16)
  (func (export "run") (result i32) (i32.add (call 0) (call 1 (i32.const 0)))))"#;

fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap()
}

/// An SBOM and a provenance that describe `module`.
fn supply_chain(module: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let sha = sha256_hex(module);
    let sbom = json!({ "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "metadata": { "component": { "type": "application", "name": "x", "components": [
            { "type": "file", "name": "echo.wasm", "hashes": [{ "alg": "SHA-256", "content": sha }] }] } } });
    let provenance = json!({ "_type": "https://in-toto.io/Statement/v1",
        "subject": [{ "name": "echo.wasm", "digest": { "sha256": sha } }],
        "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}, "builder": { "id": "urn:test" } });
    (serde_json::to_vec(&sbom).unwrap(), serde_json::to_vec(&provenance).unwrap())
}

fn vector_manifest() -> String {
    fixture_text("vectors/inputs/skill.toml")
}

/// An operator who runs the vector skill: the runtime enabled, its host allowed.
fn vector_operator() -> OperatorConfig {
    OperatorConfig::from_toml(
        "[tool_call]\nallowed_tools = [\"palyra.plugin.run\"]\nexecution_timeout_ms = 2000\n[tool_call.wasm_runtime]\nenabled = true\nallowed_http_hosts = [\"api.example.com\"]",
    )
    .unwrap()
}

/// Audits `module` packed with `manifest`, as the library does after
/// verification, for an operator who runs the vector skill.
fn audit_of(manifest: &str, module: &[u8], policy: &Policy) -> AuditReport {
    audit_for(manifest, &[("modules/echo.wasm", module)], policy, &vector_operator())
}

fn audit_for(
    manifest: &str,
    modules: &[(&str, &[u8])],
    policy: &Policy,
    operator: &OperatorConfig,
) -> AuditReport {
    let (sbom, provenance) = supply_chain(modules[0].1);
    let parsed = Manifest::parse(manifest).unwrap();
    let subject = Subject {
        manifest: Some(&parsed),
        trust_decision: Some(cargo_palyra_skill::trust::TrustDecision::TofuNewlyPinned),
        payload_sha256: String::new(),
        modules: modules.to_vec(),
        sbom: Some(&sbom),
        provenance: Some(&provenance),
        operator: Some(operator),
    };
    audit::audit(&subject, policy, &audit::Feed::default(), 0)
}

fn failed(report: &AuditReport) -> Vec<&str> {
    report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.check_id.as_str()).collect()
}

fn finding_ids(report: &AuditReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.id).collect()
}

#[test]
fn the_vectors_pass_with_the_consumer_check_ids() {
    for name in ["reference-echo.palyra-skill", "reference-echo-asset.palyra-skill"] {
        let out = cmd()
            .args(["audit", "--message-format", "json"])
            .arg(fixture(&format!("vectors/{name}")))
            .assert()
            .success();
        let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        assert_eq!(report["passed"], true);
        assert_eq!(report["should_quarantine"], false);
        assert_eq!(report["trust_decision"], "tofu_newly_pinned");
        let ids: Vec<&str> =
            report["checks"].as_array().unwrap().iter().map(|c| c["check_id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "signature_validity",
                "sbom_presence",
                "provenance_presence",
                "manifest_sanity",
                "manifest_filesystem_scopes",
                "manifest_http_egress_scopes",
                "manifest_secret_scopes",
                "forbidden_device_capabilities",
                "forbidden_wildcard_capabilities",
                "wasm_module_presence",
                "wasm_module_size_limit",
                "wasm_exported_function_limit",
                "wasm_wasi_filesystem_imports",
                "vulnerability_feed_hook",
            ]
        );
        assert_eq!(report["vulnerability_scan"]["status"], "warn");
        assert_eq!(report["policy"]["max_module_bytes"], 8388608);
        assert_eq!(report["policy"]["max_exported_functions"], 128);
    }
}

#[test]
fn each_consumer_check_fails_as_the_consumer_decides() {
    let manifest = vector_manifest();
    let echo = wasm(ECHO);
    let policy = Policy::default();
    assert!(failed(&audit_of(&manifest, &echo, &policy)).is_empty());

    let small = Policy { max_module_bytes: 100, ..Policy::default() };
    assert_eq!(failed(&audit_of(&manifest, &echo, &small)), ["wasm_module_size_limit"]);

    let exports: String = (0..129).map(|i| format!("(func (export \"f{i}\"))")).collect();
    let many = wasm(&ECHO.replace("(memory", &format!("{exports} (memory")));
    assert_eq!(failed(&audit_of(&manifest, &many, &policy)), ["wasm_exported_function_limit"]);

    let devices = manifest.replace("[capabilities]", "[capabilities]\ndevice_capabilities = [\"camera\"]");
    assert_eq!(failed(&audit_of(&devices, &echo, &policy)), ["forbidden_device_capabilities"]);
    let allowed = Policy { allow_device_capabilities: true, ..Policy::default() };
    assert!(failed(&audit_of(&devices, &echo, &allowed)).is_empty());

    let wildcards = manifest.replace(
        "[capabilities.quotas]",
        "[capabilities.wildcard_opt_in]\nnode = true\n\n[capabilities.quotas]",
    );
    assert_eq!(failed(&audit_of(&wildcards, &echo, &policy)), ["forbidden_wildcard_capabilities"]);
    let allowed = Policy { allow_wildcard_capabilities: true, ..Policy::default() };
    assert!(failed(&audit_of(&wildcards, &echo, &allowed)).is_empty());

    let fs = wasm(&ECHO.replace(
        "(memory",
        "(import \"wasi:filesystem/preopens@0.2.0\" \"get-directories\" (func)) (memory",
    ));
    assert_eq!(failed(&audit_of(&manifest, &fs, &policy)), ["wasm_wasi_filesystem_imports"]);
    let roots = manifest.replace(
        "[capabilities.quotas]",
        "[capabilities.filesystem]\nread_roots = [\"data\"]\n\n[capabilities.quotas]",
    );
    assert!(failed(&audit_of(&roots, &fs, &policy)).is_empty());

    let invalid = b"\0asm\x01\0\0\0\x01\x05garbage".to_vec();
    let report = audit_of(&manifest, &invalid, &policy);
    assert_eq!(failed(&report), ["wasm_module_validation"]);
    assert!(report.should_quarantine && !report.passed);
    assert_eq!(report.quarantine_reasons.len(), 1);
}

/// `(triggering module, manifest edit)` and `(clean module, manifest)` for each of our findings.
#[test]
fn each_finding_has_a_trigger_and_a_clean_case() {
    let manifest = vector_manifest();
    let policy = Policy::default();
    let clean = audit_of(&manifest, &wasm(ECHO), &policy);
    assert_eq!(finding_ids(&clean), Vec::<&str>::new(), "{:?}", clean.findings);

    let cases: Vec<(&str, String)> = vec![
        ("entrypoint_missing", ECHO.replace("(export \"run\")", "(export \"go\")")),
        ("entrypoint_type", ECHO.replace("(func (export \"run\") (result i32) (i32.add (call 0) (call 1 (i32.const 0))))", "(func (export \"run\"))")),
        ("unknown_import", ECHO.replace("(memory", "(import \"env\" \"evil\" (func)) (memory")),
        ("host_import_type", ECHO.replace("\"http-count\" (func (result i32))", "\"http-count\" (func (param i32) (result i32))").replace("(call 0)", "(call 0 (i32.const 0))")),
        ("host_unlinkable_import", ECHO.replace("(memory", "(import \"wasi_snapshot_preview1\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32))) (memory")),
        ("wasi_filesystem_without_roots", ECHO.replace("(memory", "(import \"wasi_snapshot_preview1\" \"path_open\" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))) (memory")),
        ("memory_initial_over_quota", ECHO.replace("(memory (export \"memory\") 1 16)", "(memory (export \"memory\") 1000 2000)")),
        ("memory_no_maximum", ECHO.replace("(memory (export \"memory\") 1 16)", "(memory (export \"memory\") 1)")),
        ("table_too_large", ECHO.replace("(memory", "(table 200000 funcref) (memory")),
        ("start_function", ECHO.replace("(memory", "(func) (start 2) (memory")),
        ("debug_info", ECHO.replace("(module", "(module (@custom \".debug_info\" \"dwarf\")")),
        ("name_section", ECHO.replace("(module", "(module $named")),
        ("host_path", ECHO.replace("(memory (export \"memory\") 1 16)", "(memory (export \"memory\") 1 16) (data (i32.const 0) \"/home/alice/src/lib.rs\")")),
        ("capability_undeclared", ECHO.replace("http-count", "secret-count").replace("http-handle", "secret-handle")),
    ];
    for (id, module) in cases {
        let report = audit_of(&manifest, &wasm(&module), &policy);
        let ids = finding_ids(&report);
        assert!(ids.contains(&id), "{id} not triggered: {ids:?}");
        let finding = report.findings.iter().find(|f| f.id == id).unwrap();
        assert!(!finding.fix.is_empty() && !finding.message.is_empty());
    }
    // Declared but never imported.
    let unused = audit_of(&manifest.replace("http_egress_allowlist = [\"api.example.com\"]", "http_egress_allowlist = [\"api.example.com\"]\nsecrets = [{ scope = \"global\", key_names = [\"k\"] }]"), &wasm(ECHO), &policy);
    assert_eq!(finding_ids(&unused), ["capability_unused", "capability_never_granted"]);
    assert_eq!(unused.findings[0].name.as_deref(), Some("capabilities.secrets"));

    // Supply chain: an SBOM and provenance of another module.
    let parsed = Manifest::parse(&manifest).unwrap();
    let (sbom, provenance) = supply_chain(b"another module");
    let module = wasm(ECHO);
    let subject = Subject {
        manifest: Some(&parsed),
        trust_decision: None,
        payload_sha256: String::new(),
        modules: vec![("modules/echo.wasm", &module)],
        sbom: Some(&sbom),
        provenance: Some(&provenance),
        operator: Some(&vector_operator()),
    };
    let report = audit::audit(
        &subject,
        &policy,
        &audit::Feed { hook: Some("https://feed.example.com"), advisory_db: None },
        0,
    );
    assert_eq!(finding_ids(&report), ["supply_chain_mismatch", "supply_chain_mismatch"]);
    assert_eq!(report.vulnerability_scan.status, Status::Pass);
}

#[test]
fn findings_carry_offsets_and_names() {
    let module = wasm(&ECHO.replace("(memory", "(import \"env\" \"evil\" (func)) (memory"));
    let report = audit_of(&vector_manifest(), &module, &Policy::default());
    let finding = report.findings.iter().find(|f| f.id == "unknown_import").unwrap();
    assert_eq!(finding.name.as_deref(), Some("env::evil"));
    assert_eq!(finding.location, "modules/echo.wasm");
    assert!(finding.offset.is_some_and(|o| o > 8 && o < module.len()));
}

#[test]
fn malformed_modules_give_findings_not_panics() {
    let echo = wasm(ECHO);
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        b"\0asm".to_vec(),
        b"not wasm at all".to_vec(),
        b"\0asm\x02\0\0\0".to_vec(),
        // A type section declaring 2^32-1 entries in 5 bytes.
        b"\0asm\x01\0\0\0\x01\x05\xff\xff\xff\xff\x0f".to_vec(),
        // A custom section claiming 4 GiB.
        b"\0asm\x01\0\0\0\x00\xff\xff\xff\xff\x0f\x01x".to_vec(),
    ];
    for cut in (0..echo.len()).step_by(7) {
        cases.push(echo[..cut].to_vec());
    }
    for module in cases {
        let report = audit_of(&vector_manifest(), &module, &Policy::default());
        if module != echo {
            assert!(failed(&report).contains(&"wasm_module_validation"), "{module:?}");
            assert!(finding_ids(&report).contains(&"invalid_module"));
        }
    }
}

#[test]
fn exit_codes_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    // A signed artifact whose manifest declares a device capability.
    let manifest =
        vector_manifest().replace("[capabilities]", "[capabilities]\ndevice_capabilities = [\"camera\"]");
    let module = wasm(ECHO);
    let (sbom, provenance) = supply_chain(&module);
    let (mut entries, parsed) = pack::assemble(Parts {
        manifest_text: manifest,
        modules: vec![("echo.wasm".into(), module)],
        assets: vec![],
        sbom,
        provenance,
    })
    .unwrap();
    pack::sign(&mut entries, &parsed.publisher, &test_key(), 0).unwrap();
    let artifact = dir.path().join("device.palyra-skill");
    std::fs::write(&artifact, entries.to_zip().unwrap()).unwrap();

    cmd()
        .arg("audit")
        .arg(&artifact)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAIL forbidden_device_capabilities"))
        .stderr(predicate::str::contains("would QUARANTINE acme.echo_http 1.0.0"));
    cmd().args(["audit", "--allow-device-capabilities"]).arg(&artifact).assert().success();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "allow_device_capabilities = true\nmax_exported_functions = 4\n").unwrap();
    cmd().args(["audit", "--policy"]).arg(&policy).arg(&artifact).assert().success();
    std::fs::write(&policy, "allow_devices = true\n").unwrap();
    cmd()
        .args(["audit", "--policy"])
        .arg(&policy)
        .arg(&artifact)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown field `allow_devices`"));

    // Verification first: a tampered artifact is an error, not a report.
    entries.set("modules/echo.wasm", wasm("(module)")).unwrap();
    let tampered = dir.path().join("tampered.palyra-skill");
    std::fs::write(&tampered, entries.to_zip().unwrap()).unwrap();
    cmd().arg("audit").arg(&tampered).assert().code(2).stderr(predicate::str::contains("fails verification"));
    // With trust options, an untrusted publisher cannot be audited.
    let other = "a9431837b607141acb9090625ae1918ccd924e3ca407bc0f67f2ecd8957e8206";
    cmd()
        .args(["audit", "--trusted-publisher", &format!("acme={other}")])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not trusted"));

    // A bare module gets the module checks and findings.
    let bare = dir.path().join("bad.wasm");
    std::fs::write(&bare, wat::parse_str("(module (import \"env\" \"x\" (func)))").unwrap()).unwrap();
    cmd()
        .args(["audit", "--message-format", "json"])
        .arg(&bare)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("\"unknown_import\""))
        .stdout(predicate::str::contains("\"entrypoint_missing\""));
}

/// The SARIF 2.1.0 schema (see `fixtures/sarif/README.md` for its source).
fn sarif_schema() -> Value {
    serde_json::from_str(&fixture_text("sarif/sarif-2.1.0-rtm.5.json")).unwrap()
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("audit.sarif");
    cmd()
        .args(["audit", "--message-format", "sarif", "--output"])
        .arg(&out)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .success();
    let clean: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();

    let module = wasm(&ECHO.replace("(memory", "(func) (start 2) (memory"));
    let manifest =
        vector_manifest().replace("[capabilities]", "[capabilities]\ndevice_capabilities = [\"camera\"]");
    let report = audit_of(&manifest, &module, &Policy::default());
    let noisy = audit::to_sarif(&report, "skills/echo/skill.toml", Some(&manifest));

    // The published schema's `language` patterns have a stray `]` that a
    // strict meta-schema check rejects; we emit no `language`, so the
    // evident intent stands in for them and everything else is checked as is.
    let schema = sarif_schema()
        .to_string()
        .replace(r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#);
    let validator = jsonschema::validator_for(&serde_json::from_str(&schema).unwrap()).unwrap();
    for sarif in [&clean, &noisy] {
        let errors: Vec<String> =
            validator.iter_errors(sarif).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(sarif["version"], "2.1.0");
    }
    let results = noisy["runs"][0]["results"].as_array().unwrap();
    let device = results.iter().find(|r| r["ruleId"] == "forbidden_device_capabilities").unwrap();
    assert_eq!(device["level"], "error");
    let location = &device["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "skills/echo/skill.toml");
    assert!(location["region"]["startLine"].as_u64().is_some());
    let rules = noisy["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "start_function" && r["help"]["text"].as_str().is_some()));
}

#[test]
fn a_crate_is_built_signed_and_audited() {
    let home = tempfile::tempdir().unwrap();
    let out = cmd()
        .args(["audit", "--message-format", "json"])
        .arg(fixture("skills/echo"))
        .env("PALYRA_SKILL_CONFIG_DIR", home.path().join("config"))
        .env("CARGO_TARGET_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("skills-target"))
        .assert()
        .code(1);
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["skill_id"], "acme.echo");
    // The consumer's install-time audit passes, but the WASI preview can
    // never run in Palyra 0.1.0: an error finding.
    assert_eq!(report["passed"], true);
    let ids: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"host_unlinkable_import"), "{ids:?}");
    assert!(!ids.contains(&"supply_chain_mismatch") && !ids.contains(&"host_path"), "{ids:?}");
    assert_eq!(report["modules"][0]["producers"].as_array().map(|p| !p.is_empty()), Some(true));
}

/// A trigger and a clean case for each finding that predicts the daemon.
#[test]
fn each_host_finding_has_a_trigger_and_a_clean_case() {
    let manifest = vector_manifest();
    let policy = Policy::default();
    let echo = wasm(ECHO);
    let ids = |report: &AuditReport| -> Vec<&'static str> { report.findings.iter().map(|f| f.id).collect() };
    let stock = OperatorConfig::default();
    let runs = vector_operator();

    // Size: the default cap is 256 KiB; an operator may raise it.
    let big = wasm(&ECHO.replace(
        "(memory (export \"memory\") 1 16)",
        &format!("(memory (export \"memory\") 1 16) (data (i32.const 0) \"{}\")", "x".repeat(300 * 1024)),
    ));
    assert!(
        ids(&audit_for(&manifest, &[("modules/echo.wasm", &big)], &policy, &runs))
            .contains(&"module_over_host_size")
    );
    let raised = OperatorConfig { max_module_size_bytes: 1 << 20, ..vector_operator() };
    assert!(
        !ids(&audit_for(&manifest, &[("modules/echo.wasm", &big)], &policy, &raised))
            .contains(&"module_over_host_size")
    );
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"module_over_host_size"));

    // Manifest values that fail every run.
    let scoped = manifest.replace(
        "http_egress_allowlist = [\"api.example.com\"]",
        "http_egress_allowlist = [\"api.example.com\"]\nsecrets = [{ scope = \"skill:acme\", key_names = [\"k\"] }]",
    );
    let report = audit_of(&scoped, &echo, &policy);
    assert!(ids(&report).contains(&"manifest_fails_every_run"), "{:?}", ids(&report));
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"manifest_fails_every_run"));

    // Two modules and no default; a default that names no module.
    let two = [("modules/a.wasm", echo.as_slice()), ("modules/b.wasm", echo.as_slice())];
    let no_default = manifest.replace("default_module_path = \"modules/echo.wasm\"\n", "");
    assert!(ids(&audit_for(&no_default, &two, &policy, &runs)).contains(&"module_selection_ambiguous"));
    let chosen = manifest.replace("modules/echo.wasm", "modules/a.wasm");
    assert!(!ids(&audit_for(&chosen, &two, &policy, &runs)).contains(&"module_selection_ambiguous"));
    assert!(!ids(&audit_for(&chosen, &two, &policy, &runs)).contains(&"default_module_missing"));
    assert!(ids(&audit_for(&manifest, &two, &policy, &runs)).contains(&"default_module_missing"));

    // Quotas above the operator's caps: info with the effective value.
    let capped = OperatorConfig { fuel_budget: 1_000, ..vector_operator() };
    let report = audit_for(&manifest, &[("modules/echo.wasm", &echo)], &policy, &capped);
    let quota = report.findings.iter().find(|f| f.id == "quota_above_host_cap").expect("quota finding");
    assert!(quota.message.contains("calls run with 1,000"), "{}", quota.message);
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"quota_above_host_cap"));

    // Declared capabilities a stock operator does not allow: info with the lines.
    let report = audit_for(&manifest, &[("modules/echo.wasm", &echo)], &policy, &stock);
    let lines =
        report.findings.iter().find(|f| f.id == "capability_not_allowed_by_operator").expect("finding");
    assert!(lines.fix.contains("allowed_http_hosts = [\"api.example.com\"]"), "{}", lines.fix);
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"capability_not_allowed_by_operator"));

    // Secrets and channels: never grantable.
    let secrets = manifest.replace(
        "http_egress_allowlist = [\"api.example.com\"]",
        "http_egress_allowlist = [\"api.example.com\"]\nsecrets = [{ scope = \"global\", key_names = [\"k\"] }]",
    );
    assert!(ids(&audit_of(&secrets, &echo, &policy)).contains(&"capability_never_granted"));
    let channels = wasm(&ECHO.replace(
        "(memory",
        "(import \"palyra:plugins/host-capabilities@0.1.0\" \"channel-count\" (func (result i32))) (memory",
    ));
    assert!(ids(&audit_of(&manifest, &channels, &policy)).contains(&"capability_never_granted"));
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"capability_never_granted"));

    // Typed contracts: a lifecycle hook may hold no capability; a connector may.
    let hook =
        format!("{manifest}\n[[operator.plugin.contracts]]\nkind = \"run_lifecycle_hook\"\nversion = 1\n");
    let report = audit_of(&hook, &echo, &policy);
    assert!(ids(&report).contains(&"contract_capability_forbidden"), "{:?}", ids(&report));
    let connector = hook.replace("run_lifecycle_hook", "connector_adapter");
    assert!(!ids(&audit_of(&connector, &echo, &policy)).contains(&"contract_capability_forbidden"));

    // WASI imports: an error, never only a warning.
    let wasi = wasm(&ECHO.replace("(memory", "(import \"wasi_snapshot_preview1\" \"fd_write\" (func (param i32 i32 i32 i32) (result i32))) (memory"));
    let report = audit_of(&manifest, &wasi, &policy);
    let finding = report.findings.iter().find(|f| f.id == "host_unlinkable_import").expect("finding");
    assert_eq!(finding.severity, cargo_palyra_skill::audit::Severity::Error);
    assert!(!ids(&audit_of(&manifest, &echo, &policy)).contains(&"host_unlinkable_import"));
}

#[test]
fn audit_takes_an_operator_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("palyrad.toml");
    std::fs::write(
        &config,
        "[tool_call.wasm_runtime]\nallowed_http_hosts = [\"api.example.com\"]\nfuel_budget = 5\n",
    )
    .unwrap();
    let out = cmd()
        .args(["audit", "--message-format", "json", "--allow-tofu-not-a-flag"])
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cmd()
        .args(["audit", "--message-format", "json", "--operator-config"])
        .arg(&config)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"quota_above_host_cap"), "{ids:?}");
    assert!(!ids.contains(&"capability_not_allowed_by_operator"), "{ids:?}");
    // The findings that predict the daemon reach SARIF (and human output) too.
    let out = cmd()
        .args(["audit", "--message-format", "sarif", "--operator-config"])
        .arg(&config)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let quota = results.iter().find(|r| r["ruleId"] == "quota_above_host_cap").expect("a SARIF result");
    assert_eq!(quota["level"], "note");
    assert!(quota["message"]["text"].as_str().unwrap().contains("calls run with 5"), "{quota}");
    cmd()
        .args(["audit", "--operator-config"])
        .arg(&config)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .stdout(predicate::str::contains("quota_above_host_cap [skill.toml]"));
    std::fs::write(&config, "[tool_call.wasm_runtime]\nfuel_budget = 0\n").unwrap();
    cmd()
        .args(["audit", "--operator-config"])
        .arg(&config)
        .arg(fixture("vectors/reference-echo.palyra-skill"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tool_call.wasm_runtime.fuel_budget must be greater than 0"));
}

/// A module with one function type of `params` i32 parameters and `count`
/// four-byte imports of it (empty module and field names).
fn import_bomb(params: usize, count: usize) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut ty = vec![1, 0x60];
    leb(params, &mut ty);
    ty.extend(std::iter::repeat_n(0x7f, params));
    ty.push(0);
    let mut imports = Vec::new();
    leb(count, &mut imports);
    for _ in 0..count {
        imports.extend_from_slice(&[0, 0, 0, 0]);
    }
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    for (id, body) in [(1u8, ty), (2u8, imports)] {
        wasm.push(id);
        leb(body.len(), &mut wasm);
        wasm.extend(body);
    }
    wasm
}

/// Peak resident memory of a process, from /proc while it runs.
#[cfg(target_os = "linux")]
struct Peak {
    /// `VmHWM`: everything resident, the program's own mapped pages too.
    total_kib: u64,
    /// The largest `RssAnon` seen: the heap and stacks, which is what the
    /// input can make grow. Mapped program pages are left out: how many of
    /// them become resident depends on what else has the binary in the
    /// page cache (fault-around), which made a bound on the total flaky
    /// while other tests ran.
    anon_kib: u64,
}

/// The peak resident memory of `command`, sampled from /proc while it runs.
#[cfg(target_os = "linux")]
fn peak_rss(mut command: std::process::Command) -> (Peak, std::process::ExitStatus) {
    let mut child =
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = Peak { total_kib: 0, anon_kib: 0 };
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            };
            peak.total_kib = peak.total_kib.max(field("VmHWM:").unwrap_or(0));
            peak.anon_kib = peak.anon_kib.max(field("RssAnon:").unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak, status);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn audit_memory_stays_proportional_to_the_module() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 imports of a 1000-parameter type: 81 KB that used 188 MB
    // (wasmparser refuses its effective type size; the deep read ran
    // anyway); 99,000 imports of a 5-parameter type, valid, past what we
    // record; and 8 MiB of imports, invalid, whose deep read once needed
    // about 19 GB.
    let audit = |path: &std::path::Path| {
        let mut command = std_cmd();
        command.args(["audit", "--message-format", "json"]).arg(path);
        peak_rss(command)
    };
    // The process itself, auditing a tiny module.
    let (baseline, _) = audit(&fixture("vectors/inputs/echo.wasm"));
    for (params, count, valid) in [(1000, 20_000, false), (5, 99_000, true), (1000, 2_000_000, false)] {
        let wasm = import_bomb(params, count);
        let path = dir.path().join(format!("bomb-{count}.wasm"));
        std::fs::write(&path, &wasm).unwrap();
        let (peak, status) = audit(&path);
        assert_eq!(status.code(), Some(1), "{count} imports: an error finding either way");
        assert!(
            peak.total_kib < 300 * 1024,
            "{count} imports ({} bytes): peak {} KiB",
            wasm.len(),
            peak.total_kib
        );
        let grown = peak.anon_kib.saturating_sub(baseline.anon_kib) * 1024;
        assert!(
            grown < 50 * wasm.len() as u64,
            "{count} imports: {grown} bytes of heap and stack over the {} KiB baseline",
            baseline.anon_kib
        );
        eprintln!(
            "{count} imports of {params} parameters, {} bytes: peak {} KiB, {} KiB anonymous (baseline {} KiB, {} KiB)",
            wasm.len(),
            peak.total_kib,
            peak.anon_kib,
            baseline.total_kib,
            baseline.anon_kib
        );
        let facts = cargo_palyra_skill::audit::analysis::analyze(&wasm);
        assert_eq!(facts.validation_error.is_none(), valid, "{count}: {:?}", facts.validation_error);
        assert!(facts.imports.len() <= cargo_palyra_skill::audit::analysis::MAX_RECORDED);
        assert!(
            facts
                .imports
                .iter()
                .all(|i| i.ty.len() <= cargo_palyra_skill::audit::analysis::MAX_SIGNATURE + 40)
        );
        if valid {
            assert_eq!(facts.imports.len() + facts.imports_omitted, count);
        }
    }
}
