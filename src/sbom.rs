//! CycloneDX 1.5 SBOM of the crates that go into the module: the
//! dependency graph for the module's target (normal edges only; build scripts and
//! proc macros run on the host and are left out), via `cyclonedx-bom`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cargo_metadata::{DependencyKind, Package, PackageId, TargetKind};
use cyclonedx_bom::models::component::{Classification, MimeType};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{License, LicenseChoice, Licenses};
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::prelude::*;
use sha2::{Digest, Sha256};

use crate::cargo::{LockedPackage, SkillCrate};

/// A module the SBOM describes as a file of the skill component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModuleFile {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("cargo metadata has no resolved dependency graph")]
    NoResolve,
    #[error("invalid package URL for `{name}`: {message}")]
    Purl { name: String, message: String },
    #[error("the generated SBOM is not valid CycloneDX 1.5: {0}")]
    Invalid(String),
    #[error("could not serialize the SBOM: {0}")]
    Write(String),
}

/// The crates that end up in the module: reachable from the skill crate
/// over normal dependency edges, proc macros excluded.
pub fn runtime_packages(krate: &SkillCrate) -> Result<Vec<(&Package, Vec<PackageId>)>, SbomError> {
    let resolve = krate.metadata.resolve.as_ref().ok_or(SbomError::NoResolve)?;
    let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let packages: BTreeMap<&PackageId, &Package> =
        krate.metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let is_proc_macro = |id: &PackageId| {
        packages.get(id).is_some_and(|p| p.targets.iter().any(|t| t.kind.contains(&TargetKind::ProcMacro)))
    };
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([krate.package.id.clone()]);
    seen.insert(krate.package.id.clone());
    while let Some(id) = queue.pop_front() {
        let Some(node) = nodes.get(&id) else { continue };
        let mut edges = Vec::new();
        for dep in &node.deps {
            let normal = dep.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal);
            if !normal || is_proc_macro(&dep.pkg) {
                continue;
            }
            edges.push(dep.pkg.clone());
            if seen.insert(dep.pkg.clone()) {
                queue.push_back(dep.pkg.clone());
            }
        }
        edges.sort();
        edges.dedup();
        if let Some(package) = packages.get(&id) {
            order.push((*package, edges));
        }
    }
    order.sort_by(|a, b| (a.0.name.as_str(), &a.0.version).cmp(&(b.0.name.as_str(), &b.0.version)));
    Ok(order)
}

/// The package URL: plain for crates.io, `repository_url` for other
/// registries, `vcs_url` for git, a relative `download_url` for path crates.
pub fn purl(package: &Package, krate: &SkillCrate) -> Result<String, SbomError> {
    let fail = |e: &dyn std::fmt::Display| SbomError::Purl {
        name: package.name.to_string(),
        message: e.to_string(),
    };
    let mut builder = purl::PurlBuilder::new(purl::PackageType::Cargo, package.name.as_str())
        .with_version(package.version.to_string());
    let qualifier = match package.source.as_ref().map(|s| s.repr.as_str()) {
        None => {
            let dir =
                package.manifest_path.parent().map(|d| d.as_std_path()).unwrap_or(krate.workspace_root());
            let relative = dir.strip_prefix(krate.workspace_root()).unwrap_or(dir);
            let relative = relative.to_string_lossy().replace('\\', "/");
            Some(("download_url", if relative.is_empty() { ".".to_owned() } else { relative }))
        }
        Some(source) if is_crates_io(source) => None,
        Some(source) if source.starts_with("git+") => {
            let (url, commit) = source.split_once('#').unwrap_or((source, ""));
            let url = url.split('?').next().unwrap_or(url);
            Some(("vcs_url", format!("{url}@{commit}")))
        }
        Some(source) => {
            let url = source.split_once('+').map_or(source, |(_, url)| url);
            Some(("repository_url", url.to_owned()))
        }
    };
    if let Some((key, value)) = qualifier {
        builder = builder.with_qualifier(key, value).map_err(|e| fail(&e))?;
    }
    builder.build().map(|p| p.to_string()).map_err(|e| fail(&e))
}

/// Whether a cargo source id is crates.io (git or sparse protocol).
pub(crate) fn is_crates_io(source: &str) -> bool {
    source == "registry+https://github.com/rust-lang/crates.io-index"
        || source == "sparse+https://index.crates.io/"
}

fn licenses(package: &Package) -> Option<Licenses> {
    let choice = match (&package.license, &package.license_file) {
        (Some(expression), _) => match SpdxExpression::parse_lax(expression.clone()) {
            Ok(parsed) => LicenseChoice::Expression(parsed),
            Err(_) => LicenseChoice::License(License::named_license(expression)),
        },
        (None, Some(file)) => {
            let name = file.file_name().unwrap_or(file.as_str());
            LicenseChoice::License(License::named_license(&format!("see {name}")))
        }
        (None, None) => return None,
    };
    Some(Licenses(vec![choice]))
}

fn sha256(hex: &str) -> Hashes {
    Hashes(vec![Hash { alg: HashAlgorithm::SHA_256, content: HashValue(hex.to_owned()) }])
}

fn component(package: &Package, purl: &str, lock: Option<&LockedPackage>) -> Component {
    let mut c = Component::new(
        Classification::Library,
        &package.name,
        &package.version.to_string(),
        Some(purl.into()),
    );
    c.purl = purl.parse().ok();
    c.licenses = licenses(package);
    c.description = package.description.as_deref().map(|d| NormalizedString::new(d.trim()));
    if !package.authors.is_empty() {
        c.author = Some(NormalizedString::new(&package.authors.join(", ")));
    }
    c.hashes = lock.and_then(|l| l.checksum.as_deref()).map(sha256);
    c.scope = Some(cyclonedx_bom::models::component::Scope::Required);
    c
}

/// A generated SBOM and the runtime crates it lists (purl and Cargo.lock
/// checksum), which the provenance records as resolved dependencies.
pub struct Generated {
    pub json: Vec<u8>,
    pub crates: Vec<(String, Option<String>)>,
}

/// The SBOM JSON for the skill crate and its built modules.
pub fn generate(
    krate: &SkillCrate,
    lock: &BTreeMap<(String, String), LockedPackage>,
    modules: &[ModuleFile],
    timestamp: &str,
) -> Result<Generated, SbomError> {
    let graph = runtime_packages(krate)?;
    let mut purls = BTreeMap::new();
    for (package, _) in &graph {
        purls.insert(package.id.clone(), purl(package, krate)?);
    }
    let root_purl = format!("pkg:cargo/{}@{}", krate.package.name, krate.package.version);
    purls.insert(krate.package.id.clone(), root_purl.clone());

    let mut components = Vec::new();
    let mut crates = Vec::new();
    let mut dependencies = Vec::new();
    for (package, edges) in &graph {
        let purl = &purls[&package.id];
        if package.id != krate.package.id {
            let locked = lock.get(&(package.name.to_string(), package.version.to_string()));
            components.push(component(package, purl, locked));
            crates.push((purl.clone(), locked.and_then(|l| l.checksum.clone())));
        }
        dependencies.push(Dependency {
            dependency_ref: purl.clone(),
            dependencies: edges.iter().filter_map(|id| purls.get(id).cloned()).collect(),
        });
    }

    let mut root = Component::new(
        Classification::Application,
        &krate.package.name,
        &krate.package.version.to_string(),
        Some(root_purl.clone()),
    );
    root.purl = root_purl.parse().ok();
    root.licenses = licenses(&krate.package);
    root.description = krate.package.description.as_deref().map(|d| NormalizedString::new(d.trim()));
    root.components = Some(Components(
        modules
            .iter()
            .map(|module| {
                let mut file = Component::new(
                    Classification::File,
                    &module.name,
                    "",
                    Some(format!("{root_purl}#{}", module.name)),
                );
                file.version = None;
                file.mime_type = Some(MimeType("application/wasm".into()));
                file.hashes = Some(sha256(&module.sha256));
                file.properties =
                    Some(Properties(vec![Property::new("cdx:rustc:sbom:target:triple", krate.target())]));
                file
            })
            .collect(),
    ));

    let tool = Component::new(
        Classification::Application,
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        Some(format!("pkg:cargo/{}@{}", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))),
    );
    let timestamp =
        DateTime::try_from(timestamp.to_owned()).map_err(|e| SbomError::Invalid(e.to_string()))?;
    let metadata = Metadata {
        timestamp: Some(timestamp),
        tools: Some(Tools::Object { services: None, components: Some(Components(vec![tool])) }),
        component: Some(root),
        ..Metadata::default()
    };

    let bom = Bom {
        version: 1,
        serial_number: Some(serial_number(&purls, modules)),
        metadata: Some(metadata),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        spec_version: SpecVersion::V1_5,
        ..Bom::default()
    };
    let result = bom.validate_version(SpecVersion::V1_5);
    if !result.passed() {
        return Err(SbomError::Invalid(format!("{result:?}")));
    }
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out).map_err(|e| SbomError::Write(e.to_string()))?;
    out.push(b'\n');
    Ok(Generated { json: out, crates })
}

/// A UUID derived from the content (every purl and module hash), so the
/// same inputs give the same SBOM bytes.
fn serial_number(purls: &BTreeMap<PackageId, String>, modules: &[ModuleFile]) -> UrnUuid {
    let mut hasher = Sha256::new();
    for purl in purls.values().collect::<BTreeSet<_>>() {
        hasher.update(purl.as_bytes());
        hasher.update([0]);
    }
    for module in modules {
        hasher.update(module.name.as_bytes());
        hasher.update(module.sha256.as_bytes());
    }
    let mut b: [u8; 16] = hasher.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    let text = format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
    UrnUuid::new(text).expect("a well-formed UUID")
}

/// RFC 3339 UTC time for seconds since the Unix epoch.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
