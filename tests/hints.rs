//! Every hint names a flag the command accepts: each command is driven into
//! its rejections (untrusted, corrupt, truncated and missing artifacts,
//! public and foreign keys, no crate, an unsigned registry check, a
//! development-key publish), and every `--flag` its output suggests is
//! looked up in the `--help` of the command that would take it (the one
//! that printed it, or the `cargo palyra-skill <command>` the hint names).

use std::collections::BTreeMap;

use crate::support::*;

/// The long flags a command's `--help` lists.
fn flags_of(command: &str, cache: &mut BTreeMap<String, Vec<String>>) -> Vec<String> {
    cache
        .entry(command.to_owned())
        .or_insert_with(|| {
            let out = cmd().args(command.split(' ')).arg("--help").output().unwrap();
            assert!(out.status.success(), "`{command} --help` failed");
            long_flags(&String::from_utf8(out.stdout).unwrap())
        })
        .clone()
}

fn long_flags(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|word| word.starts_with("--") && word.len() > 2 && word.as_bytes()[2].is_ascii_lowercase())
        .map(|word| word.trim_end_matches('-').to_owned())
        .collect()
}

/// The subcommands `cargo-palyra-skill` has, two words for `registry ...`.
const COMMANDS: [&str; 17] = [
    "new",
    "build",
    "test",
    "run",
    "audit",
    "diff",
    "rebuild",
    "pack",
    "sign",
    "keygen",
    "verify",
    "inspect",
    "publish",
    "registry verify",
    "action-report",
    "registry",
    "help",
];

/// Checks every flag `output` suggests against the command that takes it.
fn check_hints(command: &str, output: &str, cache: &mut BTreeMap<String, Vec<String>>) -> usize {
    let mut checked = 0;
    for (index, span) in output.split('`').enumerate() {
        let quoted = index % 2 == 1;
        let owner = match span.strip_prefix("cargo palyra-skill ") {
            Some(rest) if quoted => {
                let named = COMMANDS
                    .iter()
                    .filter(|c| rest == **c || rest.starts_with(&format!("{c} ")))
                    .max_by_key(|c| c.len())
                    .unwrap_or_else(|| panic!("`{command}` names an unknown command in `{span}`"));
                (*named).to_owned()
            }
            // Another program's flags (`cargo build --locked`, `rustup ...`,
            // `RUSTFLAGS="-C ..."`).
            _ if quoted && ["cargo ", "rustup ", "RUSTFLAGS="].iter().any(|p| span.starts_with(p)) => {
                continue;
            }
            _ => command.to_owned(),
        };
        for flag in long_flags(span) {
            let accepted = flags_of(&owner, cache);
            assert!(
                accepted.contains(&flag),
                "`{command}` suggests `{flag}`, which `{owner}` does not accept:\n{output}"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn every_flag_a_hint_names_is_one_the_command_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let vector = fixture("vectors/reference-echo.palyra-skill");
    let bytes = std::fs::read(&vector).unwrap();
    std::fs::write(d.join("random.palyra-skill"), b"not a zip at all, just text").unwrap();
    std::fs::write(d.join("truncated.palyra-skill"), &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 3;
    flipped[middle] ^= 0xff;
    std::fs::write(d.join("flipped.palyra-skill"), &flipped).unwrap();
    std::fs::create_dir_all(d.join("empty")).unwrap();
    // A key pair, and the public half offered as a signing key.
    cmd().args(["keygen", "--out"]).arg(d.join("acme.pem")).assert().success();
    // A registry with the vector published, checked without trust.
    cmd().args(["keygen", "--out"]).arg(d.join("registry.pem")).assert().success();
    let registry = d.join("registry");
    cmd()
        .arg("publish")
        .arg(&vector)
        .arg("--registry-dir")
        .arg(&registry)
        .arg("--key")
        .arg(d.join("registry.pem"))
        .arg("--allow-dev-key")
        .output()
        .unwrap();
    // An artifact signed with the local development key, for publish.
    let config = d.join("config");
    let dev_signed = d.join("dev.palyra-skill");
    cmd()
        .env("PALYRA_SKILL_CONFIG_DIR", &config)
        .arg("sign")
        .arg(&vector)
        .arg("--out")
        .arg(&dev_signed)
        .output()
        .unwrap();

    let p = |name: &str| d.join(name).display().to_string();
    let vector = vector.display().to_string();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("verify", vec![vector.clone()]),
        ("verify", vec![p("random.palyra-skill")]),
        ("verify", vec![p("truncated.palyra-skill")]),
        ("verify", vec![p("flipped.palyra-skill")]),
        ("verify", vec![p("missing.palyra-skill"), vector.clone()]),
        ("inspect", vec![p("random.palyra-skill")]),
        ("inspect", vec![p("truncated.palyra-skill")]),
        ("audit", vec![vector.clone()]),
        ("audit", vec![p("flipped.palyra-skill")]),
        ("audit", vec![p("empty")]),
        ("audit", vec![vector.clone(), "--advisory-db".into(), p("empty")]),
        ("audit", vec![vector.clone(), "--advisory-db".into(), p("missing-db")]),
        ("rebuild", vec![vector.clone()]),
        ("rebuild", vec![p("random.palyra-skill")]),
        ("rebuild", vec![p("flipped.palyra-skill")]),
        ("build", vec![p("empty")]),
        ("test", vec![p("empty")]),
        ("run", vec![p("empty")]),
        ("run", vec![p("random.palyra-skill")]),
        ("sign", vec![p("random.palyra-skill"), "--key".into(), p("acme.pem")]),
        ("sign", vec![vector.clone(), "--key".into(), p("acme.pem.pub")]),
        ("sign", vec![vector.clone(), "--key".into(), fixture("keys/rsa-pkcs8.pem").display().to_string()]),
        ("sign", vec![vector.clone(), "--key".into(), p("missing.pem")]),
        (
            "publish",
            vec![vector.clone(), "--registry-dir".into(), p("registry2"), "--key".into(), p("acme.pem")],
        ),
        (
            "publish",
            vec![
                dev_signed.display().to_string(),
                "--registry-dir".into(),
                p("registry3"),
                "--key".into(),
                p("registry.pem"),
            ],
        ),
        ("registry verify", vec![registry.display().to_string()]),
        ("registry verify", vec![p("empty")]),
        ("diff", vec![p("random.palyra-skill"), vector.clone()]),
    ];
    let mut cache = BTreeMap::new();
    let mut checked = 0;
    for (command, args) in &cases {
        let out = cmd()
            .env("PALYRA_SKILL_CONFIG_DIR", &config)
            .current_dir(d)
            .args(command.split(' '))
            .args(args)
            .output()
            .unwrap();
        assert!(matches!(out.status.code(), Some(0..=2)), "`{command} {args:?}`: {:?}", out.status);
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        checked += check_hints(command, &text, &mut cache);
    }
    assert!(checked >= 8, "only {checked} flags were suggested in all");
}

/// Each failure is said once, with what to do: no `error: error:`, no cause
/// repeated under `Caused by:`, no file reported three times.
#[test]
fn each_error_is_said_once_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["build", "test", "run", "audit"] {
        let out = cmd().arg(command).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.matches("error").count(), 1, "{command}: {stderr}");
        assert!(stderr.starts_with("error: no skill crate here: "), "{command}: {stderr}");
        assert!(stderr.contains("create one with `cargo palyra-skill new NAME`"), "{command}: {stderr}");
    }

    let missing = dir.path().join("missing.palyra-skill");
    for command in ["verify", "inspect", "sign"] {
        let out =
            cmd().arg(command).arg(&missing).env("PALYRA_SKILL_SIGNING_KEY", TEST_SEED_HEX).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command}");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.matches("missing.palyra-skill").count(), 1, "{command}: {text}");
        assert!(text.contains("No such file"), "{command}: {text}");
    }

    // A schema error in skill.toml: the TOML excerpt appears once.
    let skill = dir.path().join("guard");
    crate::support::copy_fixture_dir("skills/guard", &skill);
    let manifest = std::fs::read_to_string(skill.join("skill.toml")).unwrap();
    std::fs::write(
        skill.join("skill.toml"),
        manifest.replace("fuel_budget = 5000000", "fuel_budget = \"lots\""),
    )
    .unwrap();
    let out = cmd()
        .arg("build")
        .arg(&skill)
        .env("CARGO_TARGET_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hints-target"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.matches("fuel_budget = \"lots\"").count(), 1, "{stderr}");
    assert!(stderr.contains("capabilities.quotas.fuel_budget") && !stderr.contains("Caused by"), "{stderr}");
}

/// One value name per flag across all commands. Two flags share a name but
/// not a meaning, and say so: `build --out DIR` names a directory (every
/// other `--out` a file), `pack --module [NAME=]PATH` adds a file where
/// `run --module ENTRY` picks an entry of the artifact, and `test
/// --fuel-profile DIR` writes a profile per case where `run --fuel-profile
/// FILE.svg` writes one.
#[test]
fn each_flag_has_one_value_name_everywhere() {
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    for command in COMMANDS.iter().filter(|c| !["help", "registry"].contains(c)) {
        let out = cmd().args(command.split(' ')).arg("--help").output().unwrap();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let line = line.trim_start();
            let line =
                line.split_once(", ").filter(|(short, _)| short.len() == 2).map_or(line, |(_, long)| long);
            let Some((flag, rest)) = line.split_once(" <") else { continue };
            if !flag.starts_with("--") || flag.contains(' ') {
                continue;
            }
            let value = rest.split_once('>').map_or(rest, |(v, _)| v).to_owned();
            match (*command, flag) {
                ("build", "--out") => assert_eq!(value, "DIR"),
                ("pack", "--module") => assert_eq!(value, "[NAME=]PATH"),
                ("test", "--fuel-profile") => assert_eq!(value, "DIR"),
                _ => {}
            }
            if matches!(
                (*command, flag),
                ("build", "--out") | ("pack", "--module") | ("test", "--fuel-profile")
            ) {
                continue;
            }
            if let Some((first, other)) = seen.get(flag) {
                assert_eq!(&value, first, "`{flag}` is <{first}> in `{other}` but <{value}> in `{command}`");
            } else {
                seen.insert(flag.to_owned(), (value, (*command).to_owned()));
            }
        }
    }
    assert!(seen.len() > 20, "{seen:?}");
    assert_eq!(seen["--trusted-publisher"].0, "PUBLISHER=KEY");
    assert_eq!(seen["--manifest-path"].0, "PATH");
}

/// The repository stands alone: no message, doc or comment cites a spec
/// file it does not ship; they cite `docs/` instead.
#[test]
fn nothing_cites_a_spec_file_the_repository_does_not_ship() {
    fn scan(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                scan(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "md" || e == "tmpl" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for spec in
                    ["HOST.md", "RUNTIME.md", "MANIFEST.md", "ARTIFACT.md", "SUPPLY-CHAIN.md", "AUDIT.md"]
                {
                    for (at, _) in text.match_indices(spec) {
                        // `docs/host.md` is ours (lowercase); the spec names are not.
                        found.push(format!(
                            "{}: {}",
                            path.display(),
                            &text[at.saturating_sub(20)..at + spec.len()]
                        ));
                    }
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in ["src", "docs", "templates"] {
        scan(&root.join(dir), &mut found);
    }
    for file in ["README.md", "SECURITY.md", "ARCHITECTURE.md", "action.yml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for spec in ["HOST.md", "RUNTIME.md", "MANIFEST.md", "ARTIFACT.md", "SUPPLY-CHAIN.md", "AUDIT.md"] {
            if text.contains(spec) {
                found.push(format!("{file}: {spec}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
    for page in ["manifest.md", "format.md", "host.md", "abi.md"] {
        assert!(root.join("docs").join(page).is_file(), "docs/{page}");
    }
}

/// Every `--help`, at 80 and 100 columns: examples that paste (no line
/// that clap split; long ones continue with ` \`), the command's own exit
/// statuses, the global options last, and the reference at the end.
#[test]
fn every_help_pastes_its_examples_and_ends_with_its_exit_statuses() {
    for columns in ["80", "100"] {
        for command in COMMANDS.iter().filter(|c| **c != "help") {
            let out = cmd().env("COLUMNS", columns).args(command.split(' ')).arg("--help").output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let at = format!("`{command} --help` at {columns} columns");
            let examples =
                text.split("Examples:\n").nth(1).unwrap_or_else(|| panic!("{at}: no examples\n{text}"));
            let examples: Vec<&str> = examples.lines().take_while(|l| !l.trim().is_empty()).collect();
            assert!(!examples.is_empty(), "{at}");
            let mut continued = false;
            for line in &examples {
                assert!(line.chars().count() <= 80, "{at}: `{line}` is wider than 80 columns");
                let starts_command = line.starts_with("  cargo palyra-skill ")
                    || line.starts_with("  cargo-palyra-skill ")
                    || line.trim_start().split_once(' ').is_some_and(|(first, _)| first.contains('='))
                        && line.contains(" cargo");
                match (continued, line.strip_prefix("      ")) {
                    (true, Some(_)) => {}
                    (true, None) => panic!("{at}: `{line}` should continue the line before"),
                    (false, _) => assert!(
                        starts_command || line.starts_with("  # "),
                        "{at}: `{line}` is neither a command nor a comment: a split line?\n{text}"
                    ),
                }
                continued = line.ends_with(" \\");
            }
            assert!(!continued, "{at}: the last example ends with `\\`");
            if *command != "registry" {
                let status =
                    text.split("Exit status:\n").nth(1).unwrap_or_else(|| panic!("{at}: no exit status"));
                assert!(status.starts_with("  0  ") && status.contains("\n  2  "), "{at}\n{status}");
                assert!(
                    !status.contains("test failed") || *command == "test",
                    "{at}: another command's status"
                );
            }
            assert!(text.trim_end().ends_with("/tree/main/docs"), "{at}: no reference at the end");
            if let (Some(options), Some(global)) = (text.find("\nOptions:"), text.find("\nGlobal options:")) {
                assert!(global > options, "{at}: global options come last");
            } else if *command != "registry" {
                panic!("{at}: no `Global options:` heading\n{text}");
            }
        }
    }
}
