//! A GitHub workflow run, simulated job by job, each job on a machine of
//! its own: its own `HOME` (with `~/.cargo/bin` first on `PATH`, rustup's
//! proxies there as scripts of its own, and the tool installed there), its own `RUNNER_TEMP` and
//! workspace, its own environment, and its own PID namespace, which is torn
//! down when the job ends (GitHub discards the virtual machine), so a
//! process a build left behind dies with its job and never sees another
//! job's processes. Nothing passes between jobs but what GitHub's services
//! carry: `actions/upload-artifact` / `actions/download-artifact`, releases
//! (through a `gh` stand-in), and attestations.
//!
//! Within a job it is as strict as the runner: every expression is parsed
//! and evaluated with the contexts its key offers (`crate::gha`), `if:`
//! gets the implicit `success()`, each `run` step gets fresh workflow-command
//! files under `$RUNNER_TEMP/_runner_file_commands/`, and what a step writes
//! to `GITHUB_ENV` and `GITHUB_PATH` holds for every later step of the job
//! (`BASH_ENV` and `LD_PRELOAD` included, as on GitHub; only
//! `NODE_OPTIONS` is refused, as the runner refuses it). Composite actions
//! (`uses: ./path`) run their steps the same way. Third-party actions are
//! pinned by SHA and stood in for by what they do here: checkout copies the
//! repository, the artifact pair copies files through the run's storage,
//! attest-build-provenance has a test Sigstore attest the file (and needs
//! `id-token` and `attestations` write, as the real one does); the cache
//! always misses and the SARIF upload is skipped.
//!
//! The tool each job installs comes from its release, served for
//! `github.com` on loopback: the action's own install step downloads and
//! checks it, into that machine's `~/.cargo/bin`.
//!
//! Each machine runs in a new PID and mount namespace (util-linux
//! `unshare`/`nsenter`), which needs root, as on CI.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::gha;
use crate::support::attest::{Claims, TestSigstore, Times};
use crate::support::{copy_dir, git, toolchain_homes};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// The repository the tool's own `Cargo.toml` names, whose releases the
/// action installs from.
pub const TOOL_REPOSITORY: &str = "palyra-skill/cargo-palyra-skill";

/// A scalar of YAML as the runner reads it.
pub fn yaml_str(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `name=value` lines and `name<<DELIMITER` blocks, as the runner reads the
/// workflow-command files.
pub fn parse_command_file(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            pairs.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    pairs
}

/// A static HTTPS server on loopback (Python's `http.server` behind `ssl`)
/// with a certificate for `hosts`, made by `openssl`: GET of a file under
/// `root`, 404 otherwise, each path asked for logged.
pub struct Server {
    pub port: u16,
    pub log: PathBuf,
    pub cert: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn seen(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
root, log, cert, key = sys.argv[1:5]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)
    def do_GET(self):
        with open(log, "a") as f:
            f.write(self.path + "\n")
        super().do_GET()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// Serves `root` over HTTPS on loopback, with a certificate whose subject
/// alternative names are `san` (`IP:127.0.0.1`, `DNS:github.com`).
pub fn serve(root: &Path, san: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, log) = (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("seen"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", "/CN=test server", "-addext", &format!("subjectAltName={san}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes the test server's certificate");
    assert!(status.success());
    let mut child = Command::new("python3")
        .args(["-c", HTTPS_SERVER])
        .arg(root)
        .arg(&log)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
    Server { port: port.trim().parse().unwrap(), log, cert, child, _dir: dir }
}

/// The release target of this machine.
pub fn release_target() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-gnu",
        "aarch64" => "aarch64-unknown-linux-gnu",
        other => panic!("no release target for {other}"),
    }
}

/// A release of the freshly built binary, as `.github/workflows/release.yml`
/// makes it (`package.sh`, then `sha256sum`), under `dir`. Returns the
/// archive's file name.
pub fn make_release(dir: &Path) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let target = release_target();
    let status = Command::new(Path::new(REPO).join(".github/release/package.sh"))
        .arg(env!("CARGO_BIN_EXE_cargo-palyra-skill"))
        .args([version, target])
        .arg(dir)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(status.success());
    let archive = format!("cargo-palyra-skill-v{version}-{target}.tar.gz");
    let sums = Command::new("sha256sum").arg(&archive).current_dir(dir).output().unwrap();
    assert!(sums.status.success());
    std::fs::write(dir.join("SHA256SUMS"), sums.stdout).unwrap();
    archive
}

/// The tool's release as GitHub serves it, made once per test process:
/// `<root>/palyra-skill/cargo-palyra-skill/releases/download/v<version>/`,
/// and the archive's SHA-256 (what GitHub attested for the tool's repository).
fn tool_release() -> &'static (PathBuf, String) {
    static RELEASE: OnceLock<(PathBuf, String)> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let root =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tool-release-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join(format!("{TOOL_REPOSITORY}/releases/download/v{}", env!("CARGO_PKG_VERSION")));
        let archive = make_release(&dir);
        let digest = sha256_hex(&std::fs::read(dir.join(&archive)).unwrap());
        (root, digest)
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// What GitHub keeps for a run and a repository: the run's artifact
/// storage, the repository's releases and attestations, its source (a git
/// repository, which `actions/checkout` clones), the action's repository,
/// the tool's release server and the Sigstore that attests.
pub struct GitHub {
    pub dir: tempfile::TempDir,
    /// `owner/name` of the repository the workflow runs in.
    pub repository: String,
    /// The repository's source, checked out by `actions/checkout`.
    pub source: PathBuf,
    pub sigstore: TestSigstore,
    pub tool_server: Server,
    /// Where a build's code may send what it stole: the test reads it, no
    /// job can stop it (the network).
    pub drop: PathBuf,
    /// A private repository (on a plan without build attestations for it).
    pub private: bool,
}

impl GitHub {
    pub fn new(repository: &str, source: &Path) -> GitHub {
        let dir = tempfile::tempdir().unwrap();
        let (release_root, digest) = tool_release();
        let tool_server = serve(release_root, "DNS:github.com");
        let attested = dir.path().join("attested");
        std::fs::write(&attested, format!("{digest} {TOOL_REPOSITORY}\n")).unwrap();
        let drop = dir.path().join("network-drop");
        std::fs::create_dir_all(&drop).unwrap();
        std::fs::create_dir_all(dir.path().join("artifacts")).unwrap();
        std::fs::create_dir_all(dir.path().join("releases")).unwrap();
        GitHub {
            repository: repository.to_owned(),
            source: source.to_owned(),
            sigstore: TestSigstore::new(77),
            tool_server,
            drop,
            dir,
            private: false,
        }
    }

    fn artifacts(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }

    /// The files attached to the release `tag`.
    pub fn release_files(&self, tag: &str) -> BTreeMap<String, Vec<u8>> {
        let dir = self.dir.path().join("releases").join(&self.repository).join(tag);
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect()
    }

    /// The trusted root of the Sigstore that attests this run's artifacts.
    pub fn trusted_root(&self) -> String {
        self.sigstore.trusted_root()
    }
}

/// The event that started the run.
pub struct Event {
    pub name: String,
    pub git_ref: String,
    pub sha: String,
    pub base_ref: Option<String>,
}

/// One job's machine: its directories, and its PID namespace (whose first
/// process, and with it every process of the machine, dies with it).
pub struct Machine {
    pub root: PathBuf,
    pub home: PathBuf,
    pub temp: PathBuf,
    pub workspace: PathBuf,
    holder: Child,
    init: u32,
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.shut_down();
    }
}

const GH_STAND_IN: &str = r#"#!/bin/bash
# gh, as far as these workflows use it, against GitHub's state in $STATE.
set -u
state='@STATE@'
if [ -z "${GH_TOKEN:-}${GITHUB_TOKEN:-}" ]; then
  echo "gh: To use GitHub CLI in a GitHub Actions workflow, set the GH_TOKEN environment variable." >&2
  exit 4
fi
repo=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --repo|-R) repo="$2"; shift 2 ;;
    --repo=*) repo="${1#--repo=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]}"
if [ -z "$repo" ] && [ "$1" != attestation ]; then
  url=$(git remote get-url origin 2>/dev/null) \
    || { echo "failed to determine base repo: fatal: not a git repository (or any of the parent directories): .git" >&2; exit 1; }
  repo=$(printf '%s' "$url" | sed -n 's#^.*github\.com[:/]\(.*\)$#\1#p' | sed 's#\.git$##')
  [ -n "$repo" ] || { echo "none of the git remotes configured for this repository point to a known GitHub host" >&2; exit 1; }
fi
releases="$state/releases/$repo"
case "$1 ${2:-}" in
  "release list")
    ls -1 "$releases" 2>/dev/null | sort -r ;;
  "release view")
    [ -d "$releases/$3" ] || { echo "release not found" >&2; exit 1; }
    echo "$3" ;;
  "release create")
    tag=$3; shift 3
    case " $* " in *" --verify-tag "*)
      git -C "$state/source" rev-parse -q --verify "refs/tags/$tag" >/dev/null \
        || { echo "tag $tag doesn't exist in the repo $repo, aborting due to --verify-tag flag" >&2; exit 1; } ;;
    esac
    [ -d "$releases/$tag" ] && { echo "a release with the same tag name already exists: $tag" >&2; exit 1; }
    mkdir -p "$releases/$tag" ;;
  "release upload")
    tag=$3; shift 3
    [ -d "$releases/$tag" ] || { echo "release not found" >&2; exit 1; }
    clobber=false
    files=()
    for arg in "$@"; do
      if [ "$arg" = --clobber ]; then clobber=true; else files+=("$arg"); fi
    done
    for file in "${files[@]}"; do
      [ -f "$file" ] || { echo "$file: no such file or directory" >&2; exit 1; }
      name=$(basename "$file")
      if [ -e "$releases/$tag/$name" ] && [ "$clobber" = false ]; then
        echo "asset under the same name already exists: [$name]" >&2; exit 1
      fi
    done
    for file in "${files[@]}"; do cp "$file" "$releases/$tag/"; done ;;
  "release download")
    tag=$3; shift 3
    pattern='*'; dir=.
    while [ $# -gt 0 ]; do
      case "$1" in --pattern|-p) pattern=$2; shift 2 ;; --dir|-D) dir=$2; shift 2 ;; *) shift ;; esac
    done
    [ -d "$releases/$tag" ] || { echo "release not found" >&2; exit 1; }
    found=0
    for file in "$releases/$tag"/$pattern; do
      [ -f "$file" ] && { cp "$file" "$dir/"; found=1; }
    done
    [ "$found" = 1 ] || { echo "no assets match the file pattern" >&2; exit 1; } ;;
  "attestation verify")
    file=$3
    digest=$(/usr/bin/sha256sum "$file" | cut -d' ' -f1)
    if grep -qxF "$digest $repo" "$state/attested"; then
      echo "Verification succeeded! sha256:$digest was attested by $repo"
    else
      echo "Error: no attestations found for sha256:$digest from $repo" >&2; exit 1
    fi ;;
  *)
    echo "gh (test stand-in): unsupported: $*" >&2; exit 1 ;;
esac
"#;

impl Machine {
    /// A new machine under `root`: empty but for rustup's proxies in
    /// `~/.cargo/bin`, `gh` in its system directory, and curl's settings
    /// that reach `github.com` (the tool's release) on loopback.
    pub fn new(root: &Path, github: &GitHub) -> Machine {
        let home = root.join("home");
        let temp = root.join("runner-temp");
        let workspace = root.join("work/repo/repo");
        let cargo_bin = home.join(".cargo/bin");
        let system = root.join("usr/bin");
        for dir in [&temp, &workspace, &cargo_bin, &system] {
            std::fs::create_dir_all(dir).unwrap();
        }
        // rustup's proxies, as scripts that run the real ones: a file of the
        // machine's own, which build code may overwrite, never a link
        // through which it would overwrite the real rustup. Bash, because
        // dash drops variables whose names cargo makes (`CARGO_BIN_EXE_a-b`).
        let proxies = which("rustup").parent().unwrap().to_owned();
        for proxy in ["cargo", "rustc", "rustup", "rustdoc", "cargo-fmt", "cargo-clippy"] {
            let real = proxies.join(proxy);
            assert!(real.exists(), "no rustup proxy `{}`", real.display());
            write_executable(
                &cargo_bin.join(proxy),
                &format!("#!/bin/bash\nexec '{}' \"$@\"\n", real.display()),
            );
        }
        // GitHub's state is reachable by the gh stand-in the way the real
        // one reaches the API; the source link is for `--verify-tag`.
        let state = github.dir.path();
        if !state.join("source").exists() {
            std::os::unix::fs::symlink(&github.source, state.join("source")).unwrap();
        }
        write_executable(&system.join("gh"), &GH_STAND_IN.replace("@STATE@", &state.display().to_string()));
        std::fs::write(
            home.join(".curlrc"),
            format!(
                "connect-to = \"github.com:443:127.0.0.1:{}\"\ncacert = \"{}\"\n",
                github.tool_server.port,
                github.tool_server.cert.display()
            ),
        )
        .unwrap();
        let mut holder = Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                "--kill-child",
                "sh",
                "-c",
                "echo up; exec sleep infinity",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux unshare");
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "up",
            "the workflow simulator runs each job in a PID namespace of its own (unshare --pid needs root)"
        );
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", holder.id())).unwrap();
        let init =
            children.split_whitespace().next().expect("the namespace's first process").parse().unwrap();
        Machine { root: root.to_owned(), home, temp, workspace, holder, init }
    }

    /// Ends every process of the machine, as GitHub does when a job ends:
    /// the namespace's first process dies with its holder (`--kill-child`),
    /// and the kernel kills the rest of the namespace with it. Its files stay.
    pub fn shut_down(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }

    /// `PATH` on this machine: `~/.cargo/bin` first, as on GitHub's images.
    fn path(&self) -> String {
        let system: Vec<String> = std::env::var("PATH")
            .unwrap()
            .split(':')
            .filter(|dir| {
                !Path::new(dir).join("cargo-palyra-skill").exists()
                    && !Path::new(dir).join("cargo").exists()
                    && !Path::new(dir).join("rustup").exists()
            })
            .map(str::to_owned)
            .collect();
        format!(
            "{}:{}:{}",
            self.home.join(".cargo/bin").display(),
            self.root.join("usr/bin").display(),
            system.join(":")
        )
    }

    /// A command that runs `program` in `cwd` inside this machine's
    /// namespaces (entering a mount namespace resets the working directory,
    /// so nsenter sets it again).
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut command = Command::new("nsenter");
        command.args(["-t", &self.init.to_string(), "-p", "-m"]).arg(format!("--wd={}", cwd.display()));
        command.args(["--", program]);
        command
    }

    /// Every file of this machine, for a scan.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        files_under(&self.root, &mut found);
        found
    }
}

fn which(program: &str) -> PathBuf {
    let out = Command::new("sh").args(["-c", &format!("command -v {program}")]).output().unwrap();
    assert!(out.status.success(), "{program} is not on PATH");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every regular file under `dir` (links not followed).
pub fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&entry.path(), found);
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
}

/// What a job did.
pub struct Job {
    pub id: String,
    /// Whether its `if:` (and its `needs`) let it run.
    pub ran: bool,
    /// The first step that failed, and its exit code.
    pub failed: Option<(String, i32)>,
    /// Everything its steps printed, in order.
    pub log: Vec<u8>,
    pub summary: String,
    /// Each step's outputs, by step id.
    pub steps: BTreeMap<String, BTreeMap<String, String>>,
    pub machine: Machine,
}

impl Job {
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&self.log).into_owned()
    }

    pub fn succeeded(&self) -> bool {
        self.ran && self.failed.is_none()
    }
}

/// A run of one workflow: the jobs in the order given, each on a new
/// machine, each started only when the jobs it `needs` succeeded.
pub struct WorkflowRun<'a> {
    pub github: &'a GitHub,
    pub workflow: Yaml,
    pub event: Event,
    pub secrets: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    /// Extra variables every machine's environment gets (the target
    /// directory cargo builds in, to share compiled dependencies).
    pub machine_env: Vec<(String, String)>,
    pub run_id: u64,
}

/// The state of one job while it runs.
struct JobState<'a> {
    run: &'a WorkflowRun<'a>,
    machine: &'a Machine,
    job_id: &'a str,
    permissions: Yaml,
    /// The workflow's and the job's `env:`, evaluated.
    env: Vec<(String, String)>,
    /// What steps wrote to `GITHUB_ENV`.
    exported: Vec<(String, String)>,
    /// What steps wrote to `GITHUB_PATH`, newest first.
    path_prefix: Vec<String>,
    contexts: BTreeMap<&'static str, Value>,
    failed: Option<(String, i32)>,
    log: Vec<u8>,
    summary: String,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    file_counter: u32,
}

impl WorkflowRun<'_> {
    /// Runs `jobs` in order.
    pub fn run(&self, jobs: &[&str]) -> BTreeMap<String, Job> {
        let mut done: BTreeMap<String, Job> = BTreeMap::new();
        for (index, job_id) in jobs.iter().enumerate() {
            let root = self.github.dir.path().join(format!("machine-{index}-{job_id}"));
            let machine = Machine::new(&root, self.github);
            let mut job = self.run_job(job_id, machine, &done);
            job.machine.shut_down();
            done.insert((*job_id).to_owned(), job);
        }
        done
    }

    fn github_context(&self, job_id: &str, workspace: &Path) -> Value {
        let ref_name = self.event.git_ref.rsplit('/').next().unwrap_or_default().to_owned();
        gha::object([
            ("ref", Value::from(self.event.git_ref.as_str())),
            ("ref_name", Value::from(ref_name)),
            ("event_name", Value::from(self.event.name.as_str())),
            ("repository", Value::from(self.github.repository.as_str())),
            ("sha", Value::from(self.event.sha.as_str())),
            ("run_id", Value::from(self.run_id.to_string())),
            ("run_attempt", Value::from("1")),
            ("server_url", Value::from("https://github.com")),
            ("job", Value::from(job_id)),
            ("workspace", Value::from(workspace.display().to_string())),
            // A token of this job alone.
            ("token", Value::from(format!("ghs_simulated_{job_id}_token"))),
            ("base_ref", Value::from(self.event.base_ref.clone().unwrap_or_default())),
            (
                "event",
                gha::object([
                    (
                        "repository",
                        gha::object([(
                            "visibility",
                            Value::from(if self.github.private { "private" } else { "public" }),
                        )]),
                    ),
                    (
                        "pull_request",
                        gha::object([(
                            "head",
                            gha::object([(
                                "repo",
                                gha::object([("full_name", Value::from(self.github.repository.as_str()))]),
                            )]),
                        )]),
                    ),
                ]),
            ),
        ])
    }

    fn run_job(&self, job_id: &str, machine: Machine, done: &BTreeMap<String, Job>) -> Job {
        let spec = &self.workflow["jobs"][job_id];
        assert!(spec.is_mapping(), "the workflow has no job `{job_id}`");
        let needs: Vec<String> = match spec.get("needs") {
            Some(Yaml::Sequence(list)) => list.iter().map(yaml_str).collect(),
            Some(one) => vec![yaml_str(one)],
            None => Vec::new(),
        };
        let mut needs_context = serde_json::Map::new();
        let mut needs_met = true;
        for need in &needs {
            let job = done
                .get(need)
                .unwrap_or_else(|| panic!("`{job_id}` needs `{need}`, which did not run first"));
            needs_met &= job.succeeded();
            needs_context.insert(
                need.clone(),
                gha::object([("result", Value::from(if job.succeeded() { "success" } else { "failure" }))]),
            );
        }
        let secrets = gha::object(self.secrets.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str()))));
        let vars = gha::object(self.vars.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str()))));
        let mut contexts: BTreeMap<&'static str, Value> = BTreeMap::from([
            ("github", self.github_context(job_id, &machine.workspace)),
            ("needs", Value::Object(needs_context)),
            ("vars", vars),
            ("secrets", secrets),
            ("inputs", gha::object([])),
            ("strategy", gha::object([])),
            ("matrix", gha::object([])),
            ("job", gha::object([("status", Value::from("success"))])),
            (
                "runner",
                gha::object([
                    ("os", Value::from("Linux")),
                    ("arch", Value::from("X64")),
                    ("temp", Value::from(machine.temp.display().to_string())),
                    ("environment", Value::from("github-hosted")),
                ]),
            ),
            ("env", gha::object([])),
            ("steps", gha::object([])),
        ]);
        let scope = gha::Scope { contexts: &contexts, failed: !needs_met, workspace: &machine.workspace };
        let runs = needs_met
            && spec.get("if").is_none_or(|condition| {
                scope
                    .condition(&yaml_str(condition), &gha::JOB_IF)
                    .unwrap_or_else(|e| panic!("{job_id}.if: {e}"))
            });
        let mut job = Job {
            id: job_id.to_owned(),
            ran: runs,
            failed: None,
            log: Vec::new(),
            summary: String::new(),
            steps: BTreeMap::new(),
            machine,
        };
        if !runs {
            return job;
        }
        let mut env = Vec::new();
        for (source, place) in [(&self.workflow, &gha::WORKFLOW_ENV), (spec, &gha::WORKFLOW_STEP)] {
            for (name, value) in source.get("env").and_then(Yaml::as_mapping).into_iter().flatten() {
                let scope =
                    gha::Scope { contexts: &contexts, failed: false, workspace: &job.machine.workspace };
                env.push((yaml_str(name), scope.substitute(&yaml_str(value), place).unwrap()));
            }
        }
        contexts.insert("env", gha::object(env.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str())))));
        let mut state = JobState {
            run: self,
            machine: &job.machine,
            job_id,
            permissions: spec.get("permissions").cloned().unwrap_or(Yaml::Null),
            env,
            exported: Vec::new(),
            path_prefix: Vec::new(),
            contexts,
            failed: None,
            log: Vec::new(),
            summary: String::new(),
            steps: BTreeMap::new(),
            file_counter: 0,
        };
        for (index, step) in spec["steps"].as_sequence().unwrap().iter().enumerate() {
            state.workflow_step(index, step);
        }
        job.failed = state.failed;
        job.log = state.log;
        job.summary = state.summary;
        job.steps = state.steps;
        job
    }
}

/// A step's `with:` or `env:` mapping, each value evaluated.
fn evaluated(step: &Yaml, key: &str, eval: &dyn Fn(&Yaml) -> String) -> Vec<(String, String)> {
    step.get(key)
        .and_then(Yaml::as_mapping)
        .into_iter()
        .flatten()
        .map(|(k, v)| (yaml_str(k), eval(v)))
        .collect()
}

/// A step as the `steps` context holds it.
fn step_context(outputs: &BTreeMap<String, String>, outcome: &str, conclusion: &str) -> Value {
    gha::object([
        ("outputs", gha::object(outputs.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str()))))),
        ("outcome", Value::from(outcome)),
        ("conclusion", Value::from(conclusion)),
    ])
}

/// A step's outcome: its outputs and whether it succeeded.
struct StepResult {
    outputs: BTreeMap<String, String>,
    code: i32,
}

impl JobState<'_> {
    fn scope(&self) -> gha::Scope<'_> {
        gha::Scope {
            contexts: &self.contexts,
            failed: self.failed.is_some(),
            workspace: &self.machine.workspace,
        }
    }

    fn record(&mut self, id: &str, result: &StepResult, continue_on_error: bool) {
        let outcome = if result.code == 0 { "success" } else { "failure" };
        let conclusion = if continue_on_error { "success" } else { outcome };
        self.contexts
            .get_mut("steps")
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(id.to_owned(), step_context(&result.outputs, outcome, conclusion));
        self.steps.insert(id.to_owned(), result.outputs.clone());
        if result.code != 0 && !continue_on_error && self.failed.is_none() {
            self.failed = Some((id.to_owned(), result.code));
        }
    }

    fn workflow_step(&mut self, index: usize, step: &Yaml) {
        let id = step.get("id").map(yaml_str).unwrap_or_else(|| format!("__step{index}"));
        let eval = |state: &Self, value: &Yaml| {
            state
                .scope()
                .substitute(&yaml_str(value), &gha::WORKFLOW_STEP)
                .unwrap_or_else(|e| panic!("{id}: {e}"))
        };
        if let Some(name) = step.get("name") {
            eval(self, name);
        }
        let runs = match step.get("if") {
            Some(condition) => self
                .scope()
                .condition(&yaml_str(condition), &gha::WORKFLOW_STEP_IF)
                .unwrap_or_else(|e| panic!("step {id}: {e}")),
            None => self.failed.is_none(),
        };
        if !runs {
            // A skipped step is in the `steps` context, as `skipped`.
            let skipped = step_context(&BTreeMap::new(), "skipped", "skipped");
            self.contexts.get_mut("steps").unwrap().as_object_mut().unwrap().insert(id, skipped);
            return;
        }
        let continue_on_error = step.get("continue-on-error").is_some_and(|v| yaml_str(v) == "true");
        let step_env = evaluated(step, "env", &|value| eval(self, value));
        let with: BTreeMap<String, String> =
            evaluated(step, "with", &|value| eval(self, value)).into_iter().collect();
        let result = if let Some(uses) = step.get("uses").map(yaml_str) {
            if let Some(local) = uses.strip_prefix("./") {
                self.composite(&self.machine.workspace.join(local), &with)
            } else {
                self.third_party(&uses, &with)
            }
        } else {
            let script = eval(self, &step["run"]);
            let cwd = match step.get("working-directory") {
                Some(wd) => self.machine.workspace.join(eval(self, wd)),
                None => self.machine.workspace.clone(),
            };
            // A workflow step's default shell on Linux: `bash -e {0}`.
            self.run_script(&id, &script, &["-e"], &cwd, &step_env, None)
        };
        self.record(&id, &result, continue_on_error);
    }

    /// Runs `script` with bash on the machine, with fresh workflow-command
    /// files, then applies what it wrote to them.
    fn run_script(
        &mut self,
        id: &str,
        script: &str,
        shell_flags: &[&str],
        cwd: &Path,
        step_env: &[(String, String)],
        action_path: Option<&Path>,
    ) -> StepResult {
        self.file_counter += 1;
        let n = self.file_counter;
        let commands = self.machine.temp.join("_runner_file_commands");
        std::fs::create_dir_all(&commands).unwrap();
        let file = |kind: &str| commands.join(format!("{kind}_{}_{n:04}", self.job_id));
        let (env_file, path_file, output_file, summary_file) =
            (file("set_env"), file("add_path"), file("set_output"), file("step_summary"));
        for f in [&env_file, &path_file, &output_file, &summary_file] {
            std::fs::write(f, "").unwrap();
        }
        let script_path = self.machine.temp.join(format!("{}-{n}.sh", self.job_id));
        std::fs::write(&script_path, script).unwrap();
        // A step that hangs is ended, as the runner ends one at its
        // `timeout-minutes` (scaled down from GitHub's 360 for a test).
        let mut command = self.machine.command("timeout", cwd);
        command
            .args(["--kill-after=10", "600", "bash", "--noprofile", "--norc"])
            .args(shell_flags)
            .arg(&script_path);
        command.current_dir(cwd).env_clear().stdin(Stdio::null());
        let github = &self.contexts["github"];
        let text = |key: &str| github[key].as_str().unwrap_or_default().to_owned();
        let mut path = self.machine.path();
        for prefix in &self.path_prefix {
            path = format!("{prefix}:{path}");
        }
        let [(cargo_home_var, cargo_home), (rustup_home_var, rustup_home)] = toolchain_homes();
        let mut vars: Vec<(String, String)> = vec![
            ("PATH".into(), path),
            ("HOME".into(), self.machine.home.display().to_string()),
            (cargo_home_var.into(), cargo_home.display().to_string()),
            (rustup_home_var.into(), rustup_home.display().to_string()),
            ("CI".into(), "true".into()),
            ("GITHUB_ACTIONS".into(), "true".into()),
            ("GITHUB_WORKSPACE".into(), self.machine.workspace.display().to_string()),
            ("GITHUB_REPOSITORY".into(), text("repository")),
            ("GITHUB_REPOSITORY_ID".into(), "123456".into()),
            ("GITHUB_REPOSITORY_OWNER_ID".into(), "654321".into()),
            ("GITHUB_REF".into(), text("ref")),
            ("GITHUB_REF_NAME".into(), text("ref_name")),
            ("GITHUB_SHA".into(), text("sha")),
            ("GITHUB_EVENT_NAME".into(), text("event_name")),
            ("GITHUB_BASE_REF".into(), text("base_ref")),
            ("GITHUB_RUN_ID".into(), text("run_id")),
            ("GITHUB_RUN_ATTEMPT".into(), "1".into()),
            ("GITHUB_JOB".into(), self.job_id.into()),
            ("GITHUB_SERVER_URL".into(), "https://github.com".into()),
            (
                "GITHUB_WORKFLOW_REF".into(),
                format!("{}/.github/workflows/skill.yml@{}", text("repository"), text("ref")),
            ),
            ("RUNNER_TEMP".into(), self.machine.temp.display().to_string()),
            ("RUNNER_OS".into(), "Linux".into()),
            ("RUNNER_ARCH".into(), "X64".into()),
            ("RUNNER_ENVIRONMENT".into(), "github-hosted".into()),
            ("GITHUB_ENV".into(), env_file.display().to_string()),
            ("GITHUB_PATH".into(), path_file.display().to_string()),
            ("GITHUB_OUTPUT".into(), output_file.display().to_string()),
            ("GITHUB_STEP_SUMMARY".into(), summary_file.display().to_string()),
        ];
        vars.extend(self.run.machine_env.iter().cloned());
        if let Some(action_path) = action_path {
            vars.push(("GITHUB_ACTION_PATH".into(), action_path.display().to_string()));
        }
        vars.extend(self.env.iter().cloned());
        vars.extend(self.exported.iter().cloned());
        vars.extend(step_env.iter().cloned());
        command.envs(vars);
        let output = command.output().unwrap();
        self.log.extend_from_slice(&output.stdout);
        self.log.extend_from_slice(&output.stderr);
        // The runner reads the files after the step, whatever it did.
        for (name, value) in parse_command_file(&std::fs::read_to_string(&env_file).unwrap_or_default()) {
            if name == "NODE_OPTIONS" {
                self.log.extend_from_slice(
                    b"Can't store NODE_OPTIONS output parameter using '$GITHUB_ENV' command.\n",
                );
                continue;
            }
            self.exported.retain(|(k, _)| *k != name);
            self.exported.push((name, value));
        }
        for line in std::fs::read_to_string(&path_file).unwrap_or_default().lines() {
            if !line.trim().is_empty() {
                self.path_prefix.push(line.trim().to_owned());
            }
        }
        self.summary.push_str(&std::fs::read_to_string(&summary_file).unwrap_or_default());
        let outputs = parse_command_file(&std::fs::read_to_string(&output_file).unwrap_or_default())
            .into_iter()
            .collect();
        let _ = id;
        StepResult { outputs, code: output.status.code().unwrap_or(-1) }
    }

    /// A composite action from `dir`, with `with` as its inputs.
    fn composite(&mut self, dir: &Path, with: &BTreeMap<String, String>) -> StepResult {
        let Ok(text) = std::fs::read_to_string(dir.join("action.yml")) else {
            self.log.extend_from_slice(
                format!(
                    "##[error]Can't find 'action.yml' under '{}'. Did you forget to run actions/checkout?\n",
                    dir.display()
                )
                .as_bytes(),
            );
            return StepResult { outputs: BTreeMap::new(), code: 1 };
        };
        let action: Yaml = serde_yaml::from_str(&text).unwrap();
        let mut inputs = BTreeMap::new();
        for (name, spec) in action["inputs"].as_mapping().unwrap() {
            inputs.insert(yaml_str(name), spec.get("default").map(yaml_str).unwrap_or_default());
        }
        for (name, value) in with {
            assert!(inputs.contains_key(name), "the action has no input `{name}`");
            inputs.insert(name.clone(), value.clone());
        }
        let mut contexts = self.contexts.clone();
        contexts
            .insert("inputs", gha::object(inputs.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str())))));
        contexts.insert("steps", gha::object([]));
        contexts.remove("secrets");
        contexts.remove("vars");
        contexts.remove("needs");
        let mut failed: Option<i32> = None;
        for (index, step) in action["runs"]["steps"].as_sequence().unwrap().iter().enumerate() {
            let id = step.get("id").map(yaml_str).unwrap_or_else(|| format!("__step{index}"));
            let scope = gha::Scope {
                contexts: &contexts,
                failed: failed.is_some(),
                workspace: &self.machine.workspace,
            };
            let eval = |value: &Yaml| {
                scope.substitute(&yaml_str(value), &gha::COMPOSITE).unwrap_or_else(|e| panic!("{id}: {e}"))
            };
            if let Some(name) = step.get("name") {
                eval(name);
            }
            let runs = match step.get("if") {
                Some(condition) => scope
                    .condition(&yaml_str(condition), &gha::COMPOSITE_IF)
                    .unwrap_or_else(|e| panic!("step {id}: {e}")),
                None => failed.is_none(),
            };
            if !runs {
                let skipped = step_context(&BTreeMap::new(), "skipped", "skipped");
                contexts.get_mut("steps").unwrap().as_object_mut().unwrap().insert(id, skipped);
                continue;
            }
            let with: BTreeMap<String, String> = evaluated(step, "with", &eval).into_iter().collect();
            let result = if let Some(uses) = step.get("uses").map(yaml_str) {
                self.third_party(&uses, &with)
            } else {
                assert_eq!(
                    step.get("shell").map(yaml_str).as_deref(),
                    Some("bash"),
                    "step {id} needs `shell: bash`"
                );
                let script = eval(&step["run"]);
                let cwd = match step.get("working-directory") {
                    Some(wd) => self.machine.workspace.join(eval(wd)),
                    None => self.machine.workspace.clone(),
                };
                let step_env = evaluated(step, "env", &eval);
                self.run_script(&id, &script, &["-eo", "pipefail"], &cwd, &step_env, Some(dir))
            };
            let outcome = if result.code == 0 { "success" } else { "failure" };
            let step = step_context(&result.outputs, outcome, outcome);
            contexts.get_mut("steps").unwrap().as_object_mut().unwrap().insert(id.clone(), step);
            if result.code != 0 && failed.is_none() {
                failed = Some(result.code);
            }
        }
        // A failed composite action has no outputs for its caller to read.
        let mut outputs = BTreeMap::new();
        if failed.is_none() {
            let scope = gha::Scope { contexts: &contexts, failed: false, workspace: &self.machine.workspace };
            for (name, spec) in action["outputs"].as_mapping().into_iter().flatten() {
                let value = scope.substitute(&yaml_str(&spec["value"]), &gha::COMPOSITE).unwrap();
                outputs.insert(yaml_str(name), value);
            }
        }
        StepResult { outputs, code: failed.unwrap_or(0) }
    }

    fn permission(&self, name: &str) -> String {
        self.permissions.get(name).map(yaml_str).unwrap_or_default()
    }

    /// A pinned third-party action, done as it would be done here.
    fn third_party(&mut self, uses: &str, with: &BTreeMap<String, String>) -> StepResult {
        let (action, sha) = uses.split_once('@').unwrap_or_else(|| panic!("`{uses}` names no version"));
        assert!(
            sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "`{uses}` is not pinned by SHA"
        );
        let ok = |outputs: BTreeMap<String, String>| StepResult { outputs, code: 0 };
        let fail = |state: &mut Self, message: String| {
            state.log.extend_from_slice(format!("##[error]{action}: {message}\n").as_bytes());
            StepResult { outputs: BTreeMap::new(), code: 1 }
        };
        let workspace = self.machine.workspace.clone();
        match action {
            "actions/checkout" => {
                let into = with.get("path").map_or(workspace.clone(), |p| workspace.join(p));
                if with.get("repository").map(String::as_str) == Some("rustsec/advisory-db") {
                    copy_dir(&Path::new(REPO).join("fixtures/advisory-db"), &into);
                    return ok(BTreeMap::new());
                }
                assert!(
                    with.get("repository").is_none(),
                    "checkout of {:?} is not simulated",
                    with.get("repository")
                );
                let _ = std::fs::remove_dir_all(&into);
                let source = self.run.github.source.display().to_string();
                git(workspace.parent().unwrap(), &["clone", "-q", &source, into.to_str().unwrap()]);
                git(&into, &["checkout", "-q", &self.run.event.sha]);
                ok(BTreeMap::new())
            }
            "actions/upload-artifact" => {
                let name = with.get("name").cloned().unwrap_or_else(|| "artifact".into());
                let path = Path::new(&with["path"]).to_owned();
                let path = if path.is_absolute() { path } else { workspace.join(path) };
                let store = self.run.github.artifacts().join(&name);
                if store.exists() {
                    return fail(self, format!("an artifact named `{name}` already exists in this run"));
                }
                if !path.is_file() {
                    return fail(
                        self,
                        format!("no files were found with the provided path: {}", path.display()),
                    );
                }
                std::fs::create_dir_all(&store).unwrap();
                std::fs::copy(&path, store.join(path.file_name().unwrap())).unwrap();
                ok(BTreeMap::new())
            }
            "actions/download-artifact" => {
                let name = &with["name"];
                let store = self.run.github.artifacts().join(name);
                if !store.is_dir() {
                    return fail(self, format!("Artifact not found for name: {name}"));
                }
                let into = with.get("path").map_or(workspace.clone(), |p| workspace.join(p));
                copy_dir(&store, &into);
                ok(BTreeMap::from([("download-path".into(), into.display().to_string())]))
            }
            "actions/attest-build-provenance" => {
                if self.run.github.private {
                    return fail(
                        self,
                        "Error: Feature not available for the private repository: attestations need GitHub Enterprise Cloud"
                            .into(),
                    );
                }
                if self.permission("id-token") != "write" || self.permission("attestations") != "write" {
                    return fail(
                        self,
                        "Error: Failed to get ID token: the job needs `id-token: write` and `attestations: write`"
                            .into(),
                    );
                }
                let subject = Path::new(&with["subject-path"]).to_owned();
                let subject = if subject.is_absolute() { subject } else { workspace.join(subject) };
                let Ok(bytes) = std::fs::read(&subject) else {
                    return fail(self, format!("Could not find subject at path {}", subject.display()));
                };
                let github = &self.contexts["github"];
                let claims = Claims {
                    commit: github["sha"].as_str().unwrap().to_owned(),
                    ..Claims::github(
                        github["repository"].as_str().unwrap(),
                        ".github/workflows/skill.yml",
                        github["ref"].as_str().unwrap(),
                    )
                };
                let name = subject.file_name().unwrap().to_string_lossy().into_owned();
                let bundle = self.run.github.sigstore.attest(&name, &bytes, &claims, Times::fresh());
                let dir = self.machine.temp.join("attestation");
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(format!("{}.sigstore.json", self.file_counter));
                std::fs::write(&path, bundle).unwrap();
                ok(BTreeMap::from([("bundle-path".into(), path.display().to_string())]))
            }
            // Code scanning and the cache are GitHub services these tests do
            // without: the upload is skipped, the cache always misses.
            "github/codeql-action/upload-sarif" | "actions/cache/save" => ok(BTreeMap::new()),
            "actions/cache/restore" => ok(BTreeMap::from([("cache-hit".into(), String::new())])),
            other => panic!("the workflow simulator does not know `{other}`"),
        }
    }
}
