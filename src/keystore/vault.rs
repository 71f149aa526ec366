//! Ed25519 keys in a Vault or OpenBao transit engine (`hashivault://KEY`,
//! as cosign names them): the public key from `transit/keys/KEY`, each
//! signature from `transit/sign/KEY` over the 64 hex bytes we sign. One
//! HTTP call per signature; the private key never leaves the server.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::signing::{PublicKey, SignError, Signer};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "`hashivault://` keys need `VAULT_ADDR`: the address of the Vault or OpenBao server, e.g. `https://vault.example.com:8200`"
    )]
    NoAddress,
    #[error(
        "`hashivault://` keys need `VAULT_TOKEN`: a token whose policy allows `transit/sign/KEY` and reading `transit/keys/KEY`"
    )]
    NoToken,
    #[error(
        "`{0}` is not a transit key name: use `hashivault://NAME` with letters, digits, `.`, `_` and `-`"
    )]
    KeyName(String),
    #[error("`VAULT_ADDR` is `{0}`: use an `http://` or `https://` address")]
    Address(String),
    #[error("could not use the CA certificate `{path}` from `VAULT_CACERT`: {message}")]
    CaCert { path: PathBuf, message: String },
    #[error(
        "the Vault server at `{address}` did not answer within {seconds} s: check that it runs and that `VAULT_ADDR` is right (`VAULT_CLIENT_TIMEOUT` sets the wait)"
    )]
    TimedOut { address: String, seconds: u64 },
    #[error(
        "could not reach the Vault server at `{address}` ({message}): check `VAULT_ADDR`, and `VAULT_CACERT` for a private CA"
    )]
    Unreachable { address: String, message: String },
    #[error(
        "the Vault server refused the token for `{path}` (permission denied): check `VAULT_TOKEN`, and that its policy allows `update` on `transit/sign/{key}` and `read` on `transit/keys/{key}`"
    )]
    Denied { path: String, key: String },
    #[error(
        "the transit engine has no key `{key}`: create one with `bao write -f {mount}/keys/{key} type=ed25519` (or `vault write`), or fix the name"
    )]
    NoKey { key: String, mount: String },
    #[error(
        "transit key `{key}` is of type `{kind}`, not `ed25519`: Palyra signatures are Ed25519; create an `ed25519` key"
    )]
    WrongType { key: String, kind: String },
    #[error("the Vault server answered {status} for `{path}`: {message}")]
    Status { status: u16, path: String, message: String },
    #[error("the Vault server's answer for `{path}` is not what the transit engine returns: {what}")]
    Response { path: String, what: String },
}

/// Where the server is and how to reach it; the binary fills it from
/// `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT`, `VAULT_CLIENT_TIMEOUT` and
/// `TRANSIT_SECRET_ENGINE_PATH`.
pub struct VaultConfig {
    pub address: String,
    pub token: Zeroizing<String>,
    pub ca_cert: Option<PathBuf>,
    pub timeout: Duration,
    /// The transit engine's mount, `transit` unless it was mounted elsewhere.
    pub mount: String,
}

/// The server, the token and the key's name.
struct Client {
    agent: ureq::Agent,
    config: VaultConfig,
    key: String,
}

/// A transit key: its name, the version that signs, and its public key.
pub struct VaultKey {
    client: Client,
    version: u64,
    public: PublicKey,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultKey({})", self.describe())
    }
}

impl VaultKey {
    /// `hashivault://KEY` → the key's public half, read from the server.
    pub fn open(uri: &str, config: VaultConfig) -> Result<VaultKey, VaultError> {
        let key = uri.strip_prefix("hashivault://").unwrap_or(uri).trim_end_matches('/');
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return Err(VaultError::KeyName(crate::text::escape(key).to_string()));
        }
        if !(config.address.starts_with("http://") || config.address.starts_with("https://")) {
            return Err(VaultError::Address(crate::text::escape(&config.address).to_string()));
        }
        let client = Client { agent: agent(&config)?, config, key: key.to_owned() };
        let path = format!("{}/keys/{}", client.config.mount, client.key);
        let answer = client.call(&path, None)?;
        let bad = |what: &str| VaultError::Response { path: path.clone(), what: what.to_owned() };
        let data = &answer["data"];
        let kind = data["type"].as_str().ok_or_else(|| bad("no `data.type`"))?;
        if kind != "ed25519" {
            return Err(VaultError::WrongType { key: client.key.clone(), kind: kind.to_owned() });
        }
        let version = data["latest_version"].as_u64().ok_or_else(|| bad("no `data.latest_version`"))?;
        let public = data["keys"][version.to_string()]["public_key"]
            .as_str()
            .and_then(|b64| BASE64.decode(b64).ok())
            .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
            .and_then(|raw| PublicKey::from_bytes(&raw))
            .ok_or_else(|| bad("no Ed25519 `public_key` for the latest version"))?;
        Ok(VaultKey { client, version, public })
    }

    /// The key's name and version, for status lines.
    pub fn describe(&self) -> String {
        format!(
            "transit key `{}` (version {}) at {}",
            self.client.key, self.version, self.client.config.address
        )
    }
}

impl Client {
    /// One call to `/v1/<path>`: a GET, or a POST of `body`. Errors name
    /// the path and the cause, never the token.
    fn call(&self, path: &str, body: Option<Value>) -> Result<Value, VaultError> {
        let url = format!("{}/v1/{path}", self.config.address.trim_end_matches('/'));
        let token = self.config.token.as_str();
        let result = match body {
            None => self.agent.get(&url).header("X-Vault-Token", token).call(),
            Some(body) => self
                .agent
                .post(&url)
                .header("X-Vault-Token", token)
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes()),
        };
        let address = self.config.address.clone();
        let mut response = result.map_err(|e| match e {
            ureq::Error::Timeout(_) => {
                VaultError::TimedOut { address, seconds: self.config.timeout.as_secs() }
            }
            other => VaultError::Unreachable { address, message: other.to_string() },
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(1024 * 1024)
            .read_to_string()
            .map_err(|e| VaultError::Response { path: path.to_owned(), what: e.to_string() })?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let errors = value["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        match status {
            200..=299 => Ok(value),
            403 => Err(VaultError::Denied { path: path.to_owned(), key: self.key.clone() }),
            // A missing key: 404 on `keys/`, "signing key not found" on `sign/`.
            404 => Err(VaultError::NoKey { key: self.key.clone(), mount: self.config.mount.clone() }),
            400 if errors.contains("not found") => {
                Err(VaultError::NoKey { key: self.key.clone(), mount: self.config.mount.clone() })
            }
            // "key type … does not support signing", for a key of another type.
            400 if errors.contains("support signing") || errors.contains("key type") => {
                Err(VaultError::WrongType { key: self.key.clone(), kind: errors })
            }
            _ => Err(VaultError::Status {
                status,
                path: path.to_owned(),
                message: if errors.is_empty() {
                    crate::text::escape(text.trim()).to_string()
                } else {
                    errors
                },
            }),
        }
    }
}

/// The HTTP agent: every answer read (4xx and 5xx too, for their
/// messages), a time-out on every call, the private CA when one is named.
fn agent(config: &VaultConfig) -> Result<ureq::Agent, VaultError> {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(config.timeout))
        .timeout_connect(Some(config.timeout));
    if let Some(path) = &config.ca_cert {
        let ca = |message: String| VaultError::CaCert { path: path.clone(), message };
        let pem = crate::fsutil::read_regular(path, 1024 * 1024, crate::fsutil::Links::Follow)
            .map_err(|e| ca(e.to_string()))?;
        let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert.to_owned())),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| ca(e.to_string()))?;
        if certificates.is_empty() {
            return Err(ca("it holds no PEM certificate".to_owned()));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certificates)))
            .build();
        builder = builder.tls_config(tls);
    }
    Ok(builder.build().new_agent())
}

impl Signer for VaultKey {
    fn public(&self) -> PublicKey {
        self.public
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignError> {
        let path = format!("{}/sign/{}", self.client.config.mount, self.client.key);
        let body = json!({ "input": BASE64.encode(message), "key_version": self.version });
        let answer = self.client.call(&path, Some(body))?;
        let signature = answer["data"]["signature"]
            .as_str()
            .and_then(|s| s.strip_prefix(&format!("vault:v{}:", self.version)))
            .and_then(|b64| BASE64.decode(b64).ok())
            .and_then(|raw| <[u8; 64]>::try_from(raw).ok())
            .ok_or_else(|| VaultError::Response {
                path,
                what: format!(
                    "no `data.signature` of the form `vault:v{}:<base64 of 64 bytes>`",
                    self.version
                ),
            })?;
        Ok(signature)
    }
}
