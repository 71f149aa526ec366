//! The docs state the code's facts: every doc (`README.md`, `docs/*.md`,
//! `templates/*`) is read for the engine's version, the host's caps, the
//! manifest's and the scaffold's quotas, and our defaults and limits, and
//! each figure is compared with the constant it describes. A doc that
//! drifts fails here, naming the file, the sentence and the right figure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cargo_palyra_skill::host::OperatorConfig;
use cargo_palyra_skill::manifest::Quotas;
use cargo_palyra_skill::runtime;

/// A fact of the code, as a doc may state it.
#[derive(Debug, Clone, PartialEq)]
enum Fact {
    /// A number: a figure with thousands separators, a decimal, or a size
    /// in `KiB` / `MiB` / `GiB`.
    Number(f64),
    /// A version such as `43.0.1`.
    Version(String),
}

/// Every fact a claim may name, from the code's own constants.
fn facts() -> BTreeMap<&'static str, Fact> {
    let n = |v: u64| Fact::Number(v as f64);
    let op = OperatorConfig::default();
    let quota = Quotas::default();
    let scaffold = scaffold_quotas();
    BTreeMap::from([
        ("engine", Fact::Version(locked_version("wasmtime"))),
        ("op.fuel", n(op.fuel_budget)),
        ("op.timeout_ms", n(op.execution_timeout_ms)),
        ("op.memory", n(op.max_memory_bytes)),
        ("op.module", n(op.max_module_size_bytes)),
        ("op.tables", n(op.max_table_elements)),
        ("op.instances", n(op.max_instances)),
        ("tables", n(runtime::MAX_TABLE_ELEMENTS)),
        ("quota.fuel", n(quota.fuel_budget)),
        ("quota.timeout_ms", n(quota.wall_clock_timeout_ms)),
        ("quota.memory", n(quota.max_memory_bytes)),
        ("scaffold.fuel", n(scaffold["fuel_budget"])),
        ("scaffold.timeout_ms", n(scaffold["wall_clock_timeout_ms"])),
        ("scaffold.memory", n(scaffold["max_memory_bytes"])),
        ("warn", Fact::Number(cargo_palyra_skill::headroom::DEFAULT_WARN_AT)),
        ("warn_pct", Fact::Number(cargo_palyra_skill::headroom::DEFAULT_WARN_AT * 100.0)),
        ("tolerance", Fact::Number(cargo_palyra_skill::baseline::DEFAULT_TOLERANCE_PERCENT)),
        ("output_cap", n(runtime::DEFAULT_OUTPUT_CAP as u64)),
        ("stack", n(runtime::MAX_WASM_STACK as u64)),
        // Quick code gets an eighth of the host's stack (`QUICK_WASM_STACK`).
        ("quick_stack", n(runtime::MAX_WASM_STACK as u64 / 8)),
        ("profile_samples", n(runtime::PROFILE_SAMPLES)),
        ("profile_interval", n(runtime::DEFAULT_PROFILE_INTERVAL)),
        ("profile_stacks", n(runtime::MAX_PROFILE_STACKS as u64)),
        ("profile_frames", n(runtime::MAX_PROFILE_FRAMES as u64)),
        ("archive", n(cargo_palyra_skill::artifact::MAX_ARCHIVE_BYTES)),
        ("entry", n(cargo_palyra_skill::artifact::MAX_ENTRY_BYTES)),
        ("entries", n(cargo_palyra_skill::artifact::MAX_ENTRIES as u64)),
    ])
}

/// What the docs say, with `{fact}` where a figure stands. A claim's text
/// is matched with its lines joined (and a comment's `#` dropped); each
/// must be found in some doc, so a reworded sentence is not skipped
/// silently: reword the claim here with it.
const CLAIMS: &[&str] = &[
    // The engine.
    "pins `={engine}`",
    // The host's caps (`OperatorConfig::default()`).
    "gives a call {op.fuel} fuel, {op.timeout_ms} ms and {op.memory}, and refuses a module over {op.module}",
    "default caps are {op.fuel} fuel, {op.timeout_ms} ms and {op.memory}, and it refuses a module over {op.module}",
    "Palyra 0.1.0's defaults: fuel {op.fuel}, memory {op.memory}, and `tool_call.execution_timeout_ms` {op.timeout_ms})",
    "| module size | {op.module} bytes (`max_module_size_bytes`) |",
    "| fuel | {op.fuel} | the lesser",
    "| wall time | {op.timeout_ms} ms | the lesser",
    "| memory | {op.memory} bytes | the lesser",
    "`max_module_size_bytes` ({op.module} by default)",
    "`max_module_size_bytes` ({op.module} bytes by default",
    "tables ({op.tables} elements) and instances ({op.instances}) are the operator's",
    "The other caps and their defaults: `fuel_budget` {op.fuel}, `max_memory_bytes` {op.memory}, `max_module_size_bytes` {op.module}, `max_table_elements` {op.tables}, `max_instances` {op.instances}, and in `[tool_call]` `execution_timeout_ms` {op.timeout_ms} and",
    "a table over {tables} elements",
    // The manifest's defaults (`Quotas::default()`) against the caps.
    "| `fuel_budget` | {quota.fuel} | > 0 | the lesser of this and the operator's `[tool_call.wasm_runtime] fuel_budget` ({op.fuel} by default) |",
    "| `max_memory_bytes` | {quota.memory} | >= 65,536 | the lesser of this and the operator's `max_memory_bytes` ({op.memory}) |",
    "| `wall_clock_timeout_ms` | {quota.timeout_ms} | > 0 | the lesser of this and the operator's `[tool_call] execution_timeout_ms` ({op.timeout_ms} ms) |",
    // The scaffold's quotas (`templates/skill.toml.tmpl`) against the caps.
    "| fuel | {scaffold.fuel} | {op.fuel} |",
    "| time | {scaffold.timeout_ms} ms | {op.timeout_ms} ms |",
    "| memory | {scaffold.memory} | {op.memory} |",
    "quotas of {scaffold.fuel} fuel (the daemon's default cap), {scaffold.timeout_ms} ms and {scaffold.memory} (under its caps of {op.timeout_ms} ms and {op.memory}:",
    // Headroom and baselines.
    "At {warn_pct}% of any cap you get a warning",
    "figures at or above {warn_pct}% of a cap are warnings",
    "A figure at {warn_pct}% or more of its limit",
    "`headroom-warn` share ({warn_pct}% by default)",
    "`headroom-warn` share ({warn} unless",
    "| `headroom-warn` | `{warn}` |",
    "fails a case whose fuel grew over {tolerance}%",
    "or that reached {warn_pct}% of its budget",
    "(a case fails over +{tolerance}%, or at {warn_pct}% of its fuel budget)",
    "`--baseline-tolerance` percent (default {tolerance})",
    "a case whose fuel grew more than {tolerance}%",
    // The runtime.
    "are capped at {output_cap} each",
    "stdout and stderr are captured ({output_cap} each)",
    "the default {stack} wasm stack",
    "stack is wasmtime's default {stack}",
    "an eighth of its wasm stack ({quick_stack})",
    "(about {profile_samples} samples",
    "runs once, every {profile_interval} units",
    "at most {profile_stacks} distinct stacks (of at most {profile_frames} frames",
    // The artifact's limits.
    "({archive} archive and total, {entry} per entry, {entries} entries",
    "header declares: {archive} for the archive and for all entries inflated, {entry} for one entry, {entries} entries",
];

/// The version of `package` in `Cargo.lock`.
fn locked_version(package: &str) -> String {
    let lock: toml::Table =
        std::fs::read_to_string(root().join("Cargo.lock")).unwrap().parse().expect("Cargo.lock is TOML");
    let versions: Vec<&str> = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"].as_str() == Some(package))
        .map(|p| p["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions.len(), 1, "one `{package}` in Cargo.lock: {versions:?}");
    versions[0].to_owned()
}

/// `[capabilities.quotas]` of the skill.toml `new` writes.
fn scaffold_quotas() -> BTreeMap<String, u64> {
    let (_, template) =
        cargo_palyra_skill::scaffold::FILES.iter().find(|(rel, _)| *rel == "skill.toml").unwrap();
    let manifest: toml::Table = template.replace("{{", "x").replace("}}", "x").parse().unwrap();
    manifest["capabilities"]["quotas"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(key, value)| (key.clone(), value.as_integer().unwrap() as u64))
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every doc: `README.md`, `docs/*.md` and every template `new` writes.
fn docs() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    for (dir, ext) in [("docs", Some("md")), ("templates", None)] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap().flatten() {
            let path = entry.path();
            if path.is_file() && ext.is_none_or(|ext| path.extension().is_some_and(|e| e == ext)) {
                docs.push(path);
            }
        }
    }
    docs.sort();
    docs
}

/// The text with its lines joined by one space, each line's indentation
/// and leading `#`s (comments, headings) dropped, and runs of blanks made one.
fn normalize(text: &str) -> String {
    let lines = text.lines().map(|line| line.trim().trim_start_matches('#').trim());
    lines
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A figure at the start of `text` and how many bytes it took: digits with
/// `,` or `_` between groups, a decimal part, a `KiB`/`MiB`/`GiB` unit.
fn number_at(text: &str) -> Option<(f64, usize)> {
    let bytes = text.as_bytes();
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        let separator = (b == b',' || b == b'_' || b == b'.')
            && end > 0
            && bytes[end - 1].is_ascii_digit()
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if b.is_ascii_digit() || separator {
            end += 1;
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let value: f64 = text[..end].replace([',', '_'], "").parse().ok()?;
    for (unit, scale) in [(" KiB", 1u64 << 10), (" MiB", 1 << 20), (" GiB", 1 << 30)] {
        if text[end..].starts_with(unit) {
            return Some((value * scale as f64, end + unit.len()));
        }
    }
    Some((value, end))
}

/// A version at the start of `text`: digits and dots, no trailing dot.
fn version_at(text: &str) -> Option<(String, usize)> {
    let len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let version = text[..len].trim_end_matches('.');
    version.starts_with(|c: char| c.is_ascii_digit()).then(|| (version.to_owned(), version.len()))
}

/// `{fact}` placeholders split out of a claim: literal, fact, literal, ...
fn parts(claim: &str) -> (Vec<&str>, Vec<&str>) {
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = claim;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').expect("a closed placeholder");
        literals.push(&rest[..open]);
        names.push(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    literals.push(rest);
    assert!(!literals[0].is_empty(), "`{claim}` must start with words");
    (literals, names)
}

/// One place a doc makes a claim: the figures it gives, by fact.
struct Found {
    at: String,
    figures: Vec<(String, Fact)>,
}

/// Every place `text` makes `claim`.
fn find(claim: &str, text: &str, facts: &BTreeMap<&str, Fact>) -> Vec<Found> {
    let (literals, names) = parts(claim);
    let mut found = Vec::new();
    for (start, _) in text.match_indices(literals[0]) {
        let mut pos = start + literals[0].len();
        let mut figures = Vec::new();
        let complete = names.iter().zip(&literals[1..]).all(|(name, literal)| {
            let figure = match facts.get(name).unwrap_or_else(|| panic!("no fact `{name}` in `{claim}`")) {
                Fact::Number(_) => number_at(&text[pos..]).map(|(v, len)| (Fact::Number(v), len)),
                Fact::Version(_) => version_at(&text[pos..]).map(|(v, len)| (Fact::Version(v), len)),
            };
            let Some((figure, len)) = figure else { return false };
            pos += len;
            figures.push(((*name).to_owned(), figure));
            let follows = text[pos..].starts_with(literal);
            pos += literal.len();
            follows
        });
        if complete {
            let end = pos.min(text.len());
            found.push(Found { at: text[start..end].to_owned(), figures });
        }
    }
    found
}

/// Up to `width` bytes of `text` either side of byte `at`, on character boundaries.
fn around(text: &str, at: usize, width: usize) -> &str {
    let mut start = at.saturating_sub(width);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + width).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

fn agrees(said: &Fact, fact: &Fact) -> bool {
    match (said, fact) {
        (Fact::Number(a), Fact::Number(b)) => (a - b).abs() < 1e-9,
        (a, b) => a == b,
    }
}

/// Each claim's figures against the facts, and each `wasmtime N` against
/// the engine's version (another version may be named only in the same
/// sentence as the engine's own, as a comparison).
fn problems(docs: &[(String, String)], facts: &BTreeMap<&str, Fact>) -> (Vec<String>, Vec<&'static str>) {
    let mut wrong = Vec::new();
    let mut unused: Vec<&str> = CLAIMS.to_vec();
    for (name, text) in docs {
        let text = normalize(text);
        for claim in CLAIMS {
            for found in find(claim, &text, facts) {
                unused.retain(|c| c != claim);
                for (fact, said) in &found.figures {
                    if !agrees(said, &facts[fact.as_str()]) {
                        wrong.push(format!(
                            "{name}: `{}` gives {said:?} for `{fact}`, but the code says {:?}",
                            found.at,
                            facts[fact.as_str()]
                        ));
                    }
                }
            }
        }
        let Fact::Version(engine) = &facts["engine"] else { unreachable!() };
        for (at, _) in text.match_indices("wasmtime ") {
            let Some((version, _)) = version_at(&text[at + "wasmtime ".len()..]) else { continue };
            let sentence_start = text[..at].rfind(". ").map_or(0, |i| i + 2);
            let sentence_end = text[at..].find(". ").map_or(text.len(), |i| at + i + 1);
            let sentence = &text[sentence_start..sentence_end];
            if version != *engine && !sentence.contains(engine.as_str()) {
                wrong.push(format!(
                    "{name}: `...{}...` names wasmtime {version}, but the engine is wasmtime {engine} (Cargo.lock)",
                    around(&text, at, 60)
                ));
            }
        }
    }
    (wrong, unused)
}

#[test]
fn every_doc_states_the_codes_figures() {
    let docs: Vec<(String, String)> = docs()
        .iter()
        .map(|path| {
            let name = path.strip_prefix(root()).unwrap_or(path).display().to_string();
            (name, std::fs::read_to_string(path).unwrap())
        })
        .collect();
    assert!(docs.len() > 20, "{docs:?}");
    let facts = facts();
    let (wrong, unused) = problems(&docs, &facts);
    assert!(wrong.is_empty(), "docs that disagree with the code:\n{}", wrong.join("\n"));
    assert!(
        unused.is_empty(),
        "no doc makes these claims any more (reworded? reword them in tests/docs.rs too):\n{}",
        unused.join("\n")
    );
}

/// The check is not vacuous: a drifted figure, a stale engine version and
/// a reworded claim are each caught.
#[test]
fn a_drifted_doc_is_caught() {
    let facts = facts();
    let drifted = |text: &str| problems(&[("x.md".to_owned(), text.to_owned())], &facts);
    let Fact::Version(engine) = &facts["engine"] else { unreachable!() };
    let (stale, _) = drifted(
        "By default `run` is the daemon's,\nin one embedded wasmtime 0.0.1 runtime shared with `test`:",
    );
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        stale[0].contains(&format!("names wasmtime 0.0.1, but the engine is wasmtime {engine}")),
        "{stale:?}"
    );
    let (compared, _) = drifted(&format!("Then wasmtime 0.0.1 counted 0.8% more fuel than {engine}. Then"));
    assert!(compared.is_empty(), "a comparison: {compared:?}");
    let Fact::Number(fuel) = facts["op.fuel"] else { unreachable!() };
    let (cap, _) = drifted(&format!("| fuel | {} | the lesser of", fuel as u64 / 2));
    assert_eq!(cap.len(), 1, "{cap:?}");
    assert!(cap[0].contains("for `op.fuel`, but the code says"), "{cap:?}");
    let (right, unused) = drifted(&format!("| fuel | {} | the lesser of", fuel as u64));
    assert!(right.is_empty(), "{right:?}");
    assert_eq!(unused.len(), CLAIMS.len() - 1, "every other claim is missing from this doc");
    assert_eq!(number_at("16 MiB,"), Some((16_777_216.0, 6)));
    assert_eq!(number_at("262,144 bytes"), Some((262_144.0, 7)));
    assert_eq!(number_at("5.0%"), Some((5.0, 3)));
    assert_eq!(number_at("750)."), Some((750.0, 3)));
    assert_eq!(version_at("43.0.1."), Some(("43.0.1".to_owned(), 6)));
    assert_eq!(normalize("# a\n  #  b  c\n\nd"), "a b c d");
}
