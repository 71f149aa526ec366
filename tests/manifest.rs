//! Every rule of MANIFEST.md, each with a manifest it accepts and one it
//! rejects, and the consumer's warnings.

use crate::support::fixture_text;
use cargo_palyra_skill::manifest::{CompatError, Manifest, ManifestError};

fn full() -> String {
    fixture_text("manifests/full.toml")
}

fn minimal() -> String {
    fixture_text("manifests/minimal.toml")
}

/// `text` with `from` (which must occur) replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in the manifest");
    text.replacen(from, to, 1)
}

#[track_caller]
fn accepts(text: &str) -> Manifest {
    Manifest::parse(text).unwrap_or_else(|e| panic!("rejected: {e}\n{text}"))
}

#[track_caller]
fn rejects(text: &str, path: &str, message: &str) {
    match Manifest::parse(text) {
        Err(ManifestError::Invalid(violations)) => assert!(
            violations.iter().any(|v| v.path == path && v.message.contains(message)),
            "expected `{path}: ...{message}...`, got {violations:?}"
        ),
        other => panic!("expected a violation at `{path}`, got {other:?}"),
    }
}

#[track_caller]
fn schema_error(text: &str, path: &str, message: &str) {
    match Manifest::parse(text) {
        Err(ManifestError::Parse { path: at, message: m }) => {
            assert_eq!(at, path);
            assert!(m.contains(message), "{m}");
        }
        other => panic!("expected a schema error, got {other:?}"),
    }
}

#[test]
fn the_fixtures_are_accepted() {
    let full = accepts(&full());
    assert_eq!(full.compat.required_protocol_major, 1, "the `min_protocol_major` alias");
    assert_eq!(full.compat.min_palyra_version, "0.0.9", "the `min_runtime_version` alias");
    let minimal = accepts(&minimal());
    assert_eq!(minimal.manifest_version, 2);
    assert_eq!(minimal.capabilities.quotas.fuel_budget, 10_000_000);
    assert_eq!(minimal.capabilities.quotas.wall_clock_timeout_ms, 30_000);
    assert_eq!(minimal.capabilities.quotas.max_memory_bytes, 64 * 1024 * 1024);
    assert_eq!(minimal.entrypoint(), "run");
}

#[test]
fn serialized_manifests_parse_back_equal() {
    for text in [full(), minimal()] {
        let manifest = accepts(&text);
        assert_eq!(accepts(&manifest.to_toml()), manifest);
    }
}

#[test]
fn unknown_keys_are_schema_errors_with_their_path() {
    schema_error(&edit(&minimal(), "name = ", "nmae = \"x\"\nname = "), "nmae", "unknown field `nmae`");
    schema_error(
        &edit(&full(), "fuel_budget = ", "fuel = 1\nfuel_budget = "),
        "capabilities.quotas.fuel",
        "unknown field `fuel`",
    );
    schema_error(
        &edit(&full(), "requires_approval = true", "requires_approval = true\nlevel = 1"),
        "entrypoints.tools[1].risk.level",
        "unknown field `level`",
    );
    schema_error(
        &edit(&full(), "fuel_budget = 5000000", "fuel_budget = \"lots\""),
        "capabilities.quotas.fuel_budget",
        "invalid type",
    );
    schema_error(
        &edit(&minimal(), "[compat]", "[build]\nprofile = \"release\"\n\n[compat]"),
        "build",
        "unknown field `build`",
    );
    schema_error("skill_id = ", "", "TOML parse error");
}

/// A key a typo away from a field of its table names that field; one
/// that is no near miss gets only the list.
#[test]
fn a_misspelled_key_gets_did_you_mean() {
    for (from, to, path, hint) in [
        (
            "http_egress_allowlist =",
            "http_egress_allowlst =",
            "capabilities.http_egress_allowlst",
            "`http_egress_allowlist`",
        ),
        (
            "wall_clock_timeout_ms =",
            "wall_clock_timeout =",
            "capabilities.quotas.wall_clock_timeout",
            "`wall_clock_timeout_ms`",
        ),
        ("[operator.plugin]", "[operator.plugins]", "operator.plugins", "`plugin`"),
    ] {
        let text = edit(&full(), from, to);
        schema_error(&text, path, &format!(" (did you mean {hint}?), expected"));
    }
    // Nothing near: the list of fields, and no guess.
    let text = edit(&full(), "fuel_budget = ", "fuel = 1\nfuel_budget = ");
    let Err(ManifestError::Parse { message, .. }) = Manifest::parse(&text) else { panic!("accepted") };
    assert!(message.contains("expected one of `wall_clock_timeout_ms`"), "{message}");
    assert!(!message.contains("did you mean"), "{message}");
}

#[test]
fn manifest_version() {
    rejects(&format!("manifest_version = 3\n{}", minimal()), "manifest_version", "3 is not supported");
    let legacy = accepts(&format!("manifest_version = 1\n{}", minimal()));
    assert_eq!(legacy.warnings()[0].code, "legacy_manifest_version");
    rejects(
        &edit(&full(), "manifest_version = 2", "manifest_version = 1"),
        "operator",
        "requires `manifest_version = 2`",
    );
}

#[test]
fn skill_id_publisher_name_and_version() {
    for bad in ["Acme.x", "acme..x", "acme:x", ".acme", "acme.", ""] {
        rejects(
            &edit(&minimal(), "skill_id = \"acme.minimal\"", &format!("skill_id = \"{bad}\"")),
            "skill_id",
            "not a skill id",
        );
    }
    accepts(&edit(&minimal(), "skill_id = \"acme.minimal\"", "skill_id = \" acme.x-y_z.9 \""));
    for bad in ["Acme", "", "ac me"] {
        rejects(
            &edit(&minimal(), "publisher = \"acme\"", &format!("publisher = \"{bad}\"")),
            "publisher",
            "not an identifier",
        );
    }
    rejects(&edit(&minimal(), "name = \"Minimal\"", "name = \"  \""), "name", "must not be empty");
    for bad in ["1.0", "1.0.0-beta", "1.0.0+b", "v1.0.0", "1.-1.0", "1.0.0.0", ""] {
        rejects(
            &edit(&minimal(), "version = \"0.1.0\"", &format!("version = \"{bad}\"")),
            "version",
            "not a plain version",
        );
    }
    accepts(&edit(&minimal(), "version = \"0.1.0\"", "version = \" 10.20.30 \""));
}

#[test]
fn tools() {
    let text = minimal();
    let (head, rest) = text.split_once("[[entrypoints.tools]]").unwrap();
    let no_tools =
        format!("{head}[entrypoints]\ntools = []\n\n[compat]{}", rest.split_once("[compat]").unwrap().1);
    rejects(&no_tools, "entrypoints.tools", "at least one tool");
    let tool = |field: &str| format!("entrypoints.tools[0].{field}");
    rejects(
        &edit(&minimal(), "\nid = \"acme.minimal\"", "\nid = \"Acme.minimal\""),
        &tool("id"),
        "not an identifier",
    );
    rejects(
        &edit(&minimal(), "\nid = \"acme.minimal\"", "\nid = \"other.minimal\""),
        &tool("id"),
        "must start with the publisher",
    );
    rejects(
        &edit(&full(), "id = \"acme.fetch\"", "id = \"acme.echo\""),
        "entrypoints.tools[1].id",
        "declared twice",
    );
    rejects(&edit(&minimal(), "name = \"minimal\"", "name = \"\""), &tool("name"), "must not be empty");
    rejects(
        &edit(&minimal(), "description = \"Does nothing\"", "description = \" \""),
        &tool("description"),
        "must not be empty",
    );
    rejects(
        &edit(&minimal(), "input_schema = { type = \"object\" }", "input_schema = \"object\""),
        &tool("input_schema"),
        "JSON Schema object",
    );
    rejects(
        &edit(&minimal(), "output_schema = { type = \"object\" }", "output_schema = [1]"),
        &tool("output_schema"),
        "JSON Schema object",
    );
    let risky = accepts(&full());
    assert!(
        risky.entrypoints.tools[0].risk.default_sensitive
            && risky.entrypoints.tools[1].risk.requires_approval
    );
}

#[test]
fn filesystem_roots() {
    let at = "capabilities.filesystem.write_roots[0]";
    for bad in ["../x", "/abs", "c:/x", "a//b", "./a", ""] {
        rejects(
            &edit(&full(), "write_roots = [\"skills/cache\"]", &format!("write_roots = [\"{bad}\"]")),
            at,
            "not a valid relative path",
        );
    }
    let no_opt_in = edit(&full(), "filesystem = true", "filesystem = false");
    rejects(
        &no_opt_in,
        "capabilities.filesystem.read_roots[1]",
        "without `wildcard_opt_in.filesystem = true`",
    );
    accepts(&edit(&no_opt_in, ", \"skills/*\"", ""));
}

#[test]
fn http_egress_hosts() {
    let host = |h: &str| edit(&full(), "\"api.example.com\"", &format!("\"{h}\""));
    for bad in ["bad host", "a..b", "-a.com", "a.com-", ".a.com", "a_b.com", ""] {
        rejects(&host(bad), "capabilities.http_egress_allowlist[0]", "not a host name");
    }
    accepts(&host(" API.Example.com. "));
    let no_opt_in = edit(&full(), "http_egress = true", "http_egress = false");
    rejects(
        &no_opt_in,
        "capabilities.http_egress_allowlist[1]",
        "`*.cdn.example.com` uses a wildcard without `wildcard_opt_in.http_egress = true`",
    );
    let message = Manifest::parse(&no_opt_in).unwrap_err().to_string();
    assert!(
        message.contains("capabilities.http_egress_allowlist[1]: `*.cdn.example.com` uses a wildcard"),
        "{message}"
    );
}

#[test]
fn secrets() {
    let scope = |s: &str| edit(&full(), "scope = \"principal:user-1\"", &format!("scope = \"{s}\""));
    for bad in ["team:x", "skill:", "principal:Bob", "globally", ""] {
        rejects(&scope(bad), "capabilities.secrets[1].scope", "not a scope");
    }
    for good in ["global", "channel:ops", "skill:acme.x"] {
        accepts(&scope(good));
    }
    rejects(
        &edit(&full(), "key_names = [\"oauth\"]", "key_names = []"),
        "capabilities.secrets[1].key_names",
        "at least one",
    );
    rejects(
        &edit(&full(), "key_names = [\"oauth\"]", "key_names = [\"OAuth\"]"),
        "capabilities.secrets[1].key_names[0]",
        "not an identifier",
    );
    rejects(
        &edit(&full(), "secrets = true", "secrets = false"),
        "capabilities.secrets[0].key_names[1]",
        "wildcard_opt_in.secrets",
    );
}

#[test]
fn device_and_node_capabilities() {
    rejects(
        &edit(&full(), "\"camera\"", "\"Camera\""),
        "capabilities.device_capabilities[0]",
        "not an identifier",
    );
    rejects(
        &edit(&full(), "device = true", "device = false"),
        "capabilities.device_capabilities[1]",
        "wildcard_opt_in.device",
    );
    rejects(
        &edit(&full(), "\"node:gpu\"", "\"node gpu\""),
        "capabilities.node_capabilities[0]",
        "not an identifier",
    );
    rejects(
        &edit(&full(), "node = true", "node = false"),
        "capabilities.node_capabilities[1]",
        "wildcard_opt_in.node",
    );
}

#[test]
fn quotas() {
    let q = "capabilities.quotas";
    rejects(
        &edit(&full(), "wall_clock_timeout_ms = 2000", "wall_clock_timeout_ms = 0"),
        &format!("{q}.wall_clock_timeout_ms"),
        "greater than 0",
    );
    rejects(
        &edit(&full(), "fuel_budget = 5000000", "fuel_budget = 0"),
        &format!("{q}.fuel_budget"),
        "greater than 0",
    );
    rejects(
        &edit(&full(), "max_memory_bytes = 65536", "max_memory_bytes = 65535"),
        &format!("{q}.max_memory_bytes"),
        "at least 65536",
    );
    schema_error(
        &edit(&full(), "fuel_budget = 5000000", "fuel_budget = -1"),
        &format!("{q}.fuel_budget"),
        "invalid value",
    );
}

#[test]
fn compat() {
    rejects(
        &edit(&minimal(), "min_palyra_version = \"0.1.0\"", "min_palyra_version = \"latest\""),
        "compat.min_palyra_version",
        "not a plain version",
    );
    rejects(
        &edit(&full(), "max_palyra_version = \"1.0.0\"", "max_palyra_version = \"0.0.1\""),
        "compat.max_palyra_version",
        "below `min_palyra_version`",
    );
    rejects(
        &edit(&full(), "max_palyra_version = \"1.0.0\"", "max_palyra_version = \"1\""),
        "compat.max_palyra_version",
        "not a plain version",
    );
    schema_error(
        &edit(&minimal(), "required_protocol_major = 1\n", ""),
        "compat",
        "missing field `required_protocol_major`",
    );

    // Verification step 10: the runtime is 0.1.0 and speaks protocol 1.
    assert_eq!(accepts(&full()).check_runtime_compat(), Ok(()));
    let check = |from: &str, to: &str| accepts(&edit(&full(), from, to)).check_runtime_compat();
    assert!(matches!(
        check("min_protocol_major = 1", "min_protocol_major = 2"),
        Err(CompatError::ProtocolMajor { .. })
    ));
    assert!(matches!(
        check("min_runtime_version = \"0.0.9\"", "min_runtime_version = \"0.2.0\""),
        Err(CompatError::TooOld { .. })
    ));
    assert!(matches!(
        check("max_palyra_version = \"1.0.0\"", "max_palyra_version = \"0.0.9\""),
        Err(CompatError::TooNew { .. })
    ));
    assert_eq!(check("max_palyra_version = \"1.0.0\"", "max_palyra_version = \"0.1.0\""), Ok(()));
}

#[test]
fn builder() {
    rejects(
        &edit(&full(), "experimental = true", "experimental = false"),
        "builder.experimental",
        "must be true",
    );
    rejects(
        &edit(&full(), "source_kind = \"prompt\"", "source_kind = \"\""),
        "builder.source_kind",
        "must not be empty",
    );
    rejects(
        &edit(&full(), "source_ref = \"session-42\"", "source_ref = \" \""),
        "builder.source_ref",
        "must not be empty",
    );
    rejects(
        &edit(&full(), "rollout_flag = \"skills.builder\"", "rollout_flag = \"\""),
        "builder.rollout_flag",
        "must not be empty",
    );
    rejects(
        &edit(&full(), "\"assets/tests/harness.json\"", "\"../harness.json\""),
        "builder.checklist.test_harness_path",
        "not a valid relative path",
    );
    rejects(
        &edit(&full(), "provenance_path = \"provenance.json\"", "provenance_path = \"\""),
        "builder.checklist.provenance_path",
        "not a valid relative path",
    );
}

#[test]
fn operator_metadata() {
    rejects(
        &edit(&full(), "display_name = \"Full skill\"", "display_name = \"\""),
        "operator.display_name",
        "must not be empty",
    );
    rejects(
        &edit(&full(), "summary = \"Exercises every table.\"", "summary = \" \""),
        "operator.summary",
        "must not be empty",
    );
    rejects(
        &edit(&full(), "categories = [\"testing\"", "categories = [\"Testing\""),
        "operator.categories[0]",
        "only `a-z 0-9 . _ -`",
    );
    rejects(&edit(&full(), "\"v2.manifest\"", "\"v2 manifest\""), "operator.tags[1]", "only `a-z 0-9 . _ -`");
    for bad in ["http://docs.example.com", "https://docs.example.com/a b", "https://docs.example.com/#x"] {
        rejects(
            &edit(&full(), "\"https://docs.example.com/full\"", &format!("\"{bad}\"")),
            "operator.docs_url",
            "`https://` URL",
        );
    }
}

#[test]
fn operator_plugin() {
    rejects(
        &edit(&full(), "default_tool_id = \"acme.echo\"", "default_tool_id = \"acme.nope\""),
        "operator.plugin.default_tool_id",
        "not a declared tool id",
    );
    for bad in ["mods/echo.wasm", "modules/echo.wat", "modules/../echo.wasm", "modules//echo.wasm"] {
        rejects(
            &edit(&full(), "\"modules/echo.wasm\"", &format!("\"{bad}\"")),
            "operator.plugin.default_module_path",
            "`modules/*.wasm`",
        );
    }
    rejects(
        &edit(&full(), "default_entrypoint = \"run\"", "default_entrypoint = \"Run\""),
        "operator.plugin.default_entrypoint",
        "only `a-z 0-9 _ -`",
    );
    accepts(&edit(&full(), "default_entrypoint = \"run\"", "default_entrypoint = \"handle_call-2\""));
    let contracts = "contracts = [{ kind = \"memory_provider\", version = 1 }, { kind = \"connector_adapter\", version = 1 }]";
    let with = |c: &str| edit(&full(), contracts, &format!("contracts = [{c}]"));
    rejects(
        &with("{ kind = \"telepathy\", version = 1 }"),
        "operator.plugin.contracts[0].kind",
        "not a contract kind",
    );
    rejects(
        &with("{ kind = \"memory_provider\", version = 1 }, { kind = \"memory_provider\", version = 1 }"),
        "operator.plugin.contracts[1].kind",
        "declared twice",
    );
    rejects(
        &with("{ kind = \"memory_provider\", version = 2 }"),
        "operator.plugin.contracts[0].version",
        "version 1",
    );
    accepts(&with("{ kind = \"model_auth_provider\", version = 1 }"));
}

#[test]
fn operator_config() {
    let at = "operator.config.properties";
    rejects(
        &edit(&full(), "schema_version = 3", "schema_version = 0"),
        "operator.config.schema_version",
        "greater than 0",
    );
    rejects(
        &edit(&full(), "required = [\"endpoint\"]", "required = [\"nope\"]"),
        "operator.config.required[0]",
        "not a declared property",
    );
    rejects(
        &edit(&full(), "properties.retries]", "properties.Retries]"),
        &format!("{at}.Retries"),
        "only `a-z 0-9 . _ -`",
    );
    rejects(
        &edit(
            &full(),
            "type = \"integer\"\ndefault = 3",
            "type = \"integer\"\ndefault = 3\nenum_values = [\"3\"]",
        ),
        &format!("{at}.retries.enum_values"),
        "only allowed with `type = \"string\"`",
    );
    rejects(
        &edit(&full(), "enum_values = [\"eu\", \"us\"]", "enum_values = [\"eu\", \"eu\"]"),
        &format!("{at}.endpoint.enum_values"),
        "unique",
    );
    rejects(
        &edit(&full(), "enum_values = [\"eu\", \"us\"]", "enum_values = [\"eu\", \"\"]"),
        &format!("{at}.endpoint.enum_values"),
        "empty strings",
    );
    rejects(
        &edit(&full(), "default = \"eu\"", "default = \"asia\""),
        &format!("{at}.endpoint.default"),
        "not one of `enum_values`",
    );
    rejects(
        &edit(&full(), "default = 3", "default = 3.5"),
        &format!("{at}.retries.default"),
        "does not match `type = \"integer\"`",
    );
    rejects(&edit(&full(), "default = 0.5", "default = \"half\""), &format!("{at}.ratio.default"), "number");
    rejects(&edit(&full(), "default = false", "default = 0"), &format!("{at}.verbose.default"), "boolean");
    rejects(
        &edit(&full(), "default = [\"a\", \"b\"]", "default = [\"a\", 1]"),
        &format!("{at}.hosts.default"),
        "string_list",
    );
    rejects(
        &edit(&full(), "title = \"Endpoint\"", "title = \"\""),
        &format!("{at}.endpoint.title"),
        "must not be empty",
    );
    schema_error(
        &edit(&full(), "type = \"boolean\"", "type = \"bool\""),
        "operator.config.properties.verbose.type",
        "unknown variant `bool`",
    );
}

#[test]
fn all_violations_are_reported_at_once() {
    let text = edit(
        &edit(&minimal(), "name = \"Minimal\"", "name = \"\""),
        "version = \"0.1.0\"",
        "version = \"1\"",
    );
    let message = Manifest::parse(&text).unwrap_err().to_string();
    assert!(message.starts_with("`skill.toml` breaks 2 manifest rules:"), "{message}");
    assert!(
        message.contains("  - name: must not be empty")
            && message.contains("  - version: `1` is not a plain version"),
        "{message}"
    );
}

#[test]
fn warnings_match_the_consumer() {
    let codes = |text: &str| accepts(text).warnings().iter().map(|w| w.code).collect::<Vec<_>>();
    assert_eq!(codes(&minimal()), ["missing_operator_metadata"]);
    assert_eq!(codes(&full()), Vec::<&str>::new(), "the full fixture is warning-free");
    assert_eq!(
        codes(&edit(&full(), "display_name = \"Full skill\"\n", "")),
        ["missing_operator_display_name"]
    );
    let secretish = edit(&full(), "type = \"string\"\nredacted = true", "type = \"string\"");
    assert_eq!(codes(&secretish), ["operator_config_redaction_recommended"]);
    let bare = format!("{}\n[operator]\ndisplay_name = \"M\"\n\n[operator.config]\n", minimal());
    assert_eq!(codes(&bare), ["empty_operator_config_contract"]);
}
