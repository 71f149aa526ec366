//! Capability grants and the Palyra host ABI v1 handle numbering
//! (docs/abi.md).

use serde::Serialize;

use crate::manifest::Manifest;

/// The import module of every Palyra host function.
pub const HOST_MODULE: &str = "palyra:plugins/host-capabilities@0.1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityClass {
    Http,
    Secret,
    Storage,
    Channel,
}

impl CapabilityClass {
    pub const ALL: [CapabilityClass; 4] =
        [CapabilityClass::Http, CapabilityClass::Secret, CapabilityClass::Storage, CapabilityClass::Channel];

    /// The handle of the first granted item of this class.
    pub fn base(self) -> i32 {
        match self {
            CapabilityClass::Http => 10_000,
            CapabilityClass::Secret => 20_000,
            CapabilityClass::Storage => 30_000,
            CapabilityClass::Channel => 40_000,
        }
    }

    /// The host function `name` of [`HOST_MODULE`]: its class and its wasm
    /// type as `wasmparser` renders it (`() -> (i32)`, `(i32) -> (i32)`).
    pub fn host_function(name: &str) -> Option<(CapabilityClass, &'static str)> {
        CapabilityClass::ALL.into_iter().find_map(|class| {
            if name == format!("{}-count", class.prefix()) {
                Some((class, "() -> (i32)"))
            } else if name == format!("{}-handle", class.prefix()) {
                Some((class, "(i32) -> (i32)"))
            } else {
                None
            }
        })
    }

    /// The ABI's name prefix: `http` in `http-count` and `http-handle`.
    pub fn prefix(self) -> &'static str {
        match self {
            CapabilityClass::Http => "http",
            CapabilityClass::Secret => "secret",
            CapabilityClass::Storage => "storage",
            CapabilityClass::Channel => "channel",
        }
    }
}

/// What a call may use: per class, trimmed, non-empty, sorted, de-duplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grants {
    pub http: Vec<String>,
    pub secrets: Vec<String>,
    pub storage: Vec<String>,
    pub channels: Vec<String>,
}

/// What the user allows for a local run (`--allow-http`, `--allow-secret`, `--allow-storage`).
#[derive(Debug, Clone, Default)]
pub struct Allow {
    pub http: Vec<String>,
    pub secrets: Vec<String>,
    pub storage: Vec<String>,
}

fn normalize(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> =
        items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    items.sort();
    items.dedup();
    items
}

impl Grants {
    /// What an installed skill is granted: http = `http_egress_allowlist`,
    /// secrets = `<scope>/<key>`, storage = `filesystem.write_roots`, no channels.
    pub fn from_manifest(manifest: &Manifest) -> Grants {
        let c = &manifest.capabilities;
        Grants {
            http: normalize(c.http_egress_allowlist.iter().cloned()),
            secrets: normalize(
                c.secrets.iter().flat_map(|s| {
                    s.key_names.iter().map(move |k| format!("{}/{}", s.scope.trim(), k.trim()))
                }),
            ),
            storage: normalize(c.filesystem.write_roots.iter().cloned()),
            channels: Vec::new(),
        }
    }

    /// The intersection with what the user allows (as an operator's policy
    /// narrows grants), and the allowed items the manifest never declared.
    pub fn narrowed(&self, allow: &Allow) -> (Grants, Vec<String>) {
        let mut undeclared = Vec::new();
        let mut keep = |declared: &[String], allowed: &[String], label: &str| {
            let allowed = normalize(allowed.iter().cloned());
            for item in &allowed {
                if !declared.contains(item) {
                    undeclared.push(format!("{label} `{item}`"));
                }
            }
            declared.iter().filter(|d| allowed.contains(d)).cloned().collect::<Vec<_>>()
        };
        let grants = Grants {
            http: keep(&self.http, &allow.http, "http host"),
            secrets: keep(&self.secrets, &allow.secrets, "secret"),
            storage: keep(&self.storage, &allow.storage, "storage prefix"),
            channels: Vec::new(),
        };
        (grants, undeclared)
    }

    pub fn items(&self, class: CapabilityClass) -> &[String] {
        match class {
            CapabilityClass::Http => &self.http,
            CapabilityClass::Secret => &self.secrets,
            CapabilityClass::Storage => &self.storage,
            CapabilityClass::Channel => &self.channels,
        }
    }

    pub fn count(&self, class: CapabilityClass) -> i32 {
        i32::try_from(self.items(class).len()).unwrap_or(i32::MAX)
    }

    /// Every handle of `class`, in order.
    pub fn handles(&self, class: CapabilityClass) -> Vec<i32> {
        (0..self.count(class)).map(|i| self.handle(class, i)).collect()
    }

    /// `base + i` for the i-th granted item, `-1` when `i` is negative or out of range.
    pub fn handle(&self, class: CapabilityClass, index: i32) -> i32 {
        match usize::try_from(index) {
            Ok(i) if i < self.items(class).len() => class.base() + index,
            _ => -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_follow_the_abi() {
        let grants =
            Grants { http: vec!["a.example.com".into(), "b.example.com".into()], ..Default::default() };
        assert_eq!(grants.count(CapabilityClass::Http), 2);
        assert_eq!(grants.handle(CapabilityClass::Http, 0), 10_000);
        assert_eq!(grants.handle(CapabilityClass::Http, 1), 10_001);
        assert_eq!(grants.handle(CapabilityClass::Http, 2), -1);
        assert_eq!(grants.handle(CapabilityClass::Http, -1), -1);
        assert_eq!(grants.handle(CapabilityClass::Secret, 0), -1);
    }

    #[test]
    fn narrowing_intersects_and_reports_undeclared_items() {
        let declared = Grants {
            http: normalize([
                "b.example.com".into(),
                " a.example.com ".into(),
                "".into(),
                "a.example.com".into(),
            ]),
            ..Default::default()
        };
        assert_eq!(declared.http, ["a.example.com", "b.example.com"]);
        let allow =
            Allow { http: vec!["b.example.com".into(), "evil.example.com".into()], ..Default::default() };
        let (narrowed, undeclared) = declared.narrowed(&allow);
        assert_eq!(narrowed.http, ["b.example.com"]);
        assert_eq!(undeclared, ["http host `evil.example.com`"]);
    }
}
