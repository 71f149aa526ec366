//! "What do I remove?": a module's code and data bytes by package, each
//! with the dependency path that pulls it in, what each direct dependency
//! costs with everything only it brings, the dependencies that together
//! would bring an oversized module under the cap, and the profile settings
//! for size that are not set yet.

use std::collections::BTreeMap;

use serde::Serialize;

use super::data::DataUse;
use super::graph::{Graph, Owner};
use super::profile::{Profile, size_advice};
use crate::sizes::{SizeReport, crate_of};

/// Bytes of one package (or of Rust's library, or of code without a path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageBytes {
    /// The package's name; `std` for Rust's own library; `[no path]` for
    /// exports and compiler intrinsics; a crate the graph lacks by its name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub kind: Kind,
    pub code: u64,
    pub data: u64,
    pub functions: usize,
    /// The skill first, this package last; empty outside the graph.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
}

impl PackageBytes {
    pub fn bytes(&self) -> u64 {
        self.code + self.data
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The skill's own crate.
    Skill,
    Dependency,
    /// Rust's standard library.
    Standard,
    /// Code whose path names no package of the graph.
    Other,
}

/// A direct dependency and what goes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub dependency: String,
    /// It and the packages only it pulls in, largest first.
    pub packages: Vec<String>,
    pub bytes: u64,
}

/// One profile setting to add for size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advice {
    pub key: String,
    pub value: String,
    pub now: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub bytes: u64,
    pub cap: u64,
    pub code: u64,
    /// Share of the code bytes in functions with a name, 0 to 1.
    pub named_code_share: f64,
    pub data: u64,
    pub data_unattributed: u64,
    /// Largest (code + data) first.
    pub packages: Vec<PackageBytes>,
    /// The skill's direct dependencies, costliest first.
    pub removals: Vec<Removal>,
    /// Over the cap: the fewest direct dependencies (costliest first) whose
    /// removal brings the module under it; empty when none would.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_fit: Vec<String>,
    pub profile: Profile,
    pub advice: Vec<Advice>,
}

/// Crates of Rust's library that sometimes show in paths, besides `core`,
/// `alloc` and `std`; a package of the graph with the name wins.
fn owner(graph: &Graph, name: &str) -> Owner {
    let krate = crate_of(name);
    let first = graph.owner(&krate);
    if first != Owner::Standard {
        return first;
    }
    // `core::ptr::drop_in_place<url::Url>`: the library's generic code
    // made for a package's type is that package's cost.
    let mut rest = name;
    while let Some(at) = rest.find("::") {
        let before = &rest[..at];
        let word_start =
            before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
        if let Owner::Package(index) = graph.owner(&before[word_start..]) {
            return Owner::Package(index);
        }
        rest = &rest[at + 2..];
    }
    first
}

pub fn fit_report(
    sizes: &SizeReport,
    data: &DataUse,
    graph: &Graph,
    profile: Profile,
    cap: u64,
) -> FitReport {
    let mut by: BTreeMap<String, PackageBytes> = BTreeMap::new();
    let mut code = 0u64;
    let mut named = 0u64;
    for function in &sizes.functions {
        code += function.bytes;
        let name = function.name.as_deref();
        if name.is_some() {
            named += function.bytes;
        }
        let owned = match name.map(|n| owner(graph, n)) {
            // An export without a path (`run`, `#[no_mangle]`) is the skill's.
            Some(Owner::Other)
                if data.exported.contains(&function.index) && crate_of(name.unwrap_or("")) == "[no path]" =>
            {
                Some(Owner::Package(graph.root))
            }
            other => other,
        };
        let (key, kind, facts) = match owned {
            Some(Owner::Package(index)) => {
                let facts = &graph.packages[index];
                let kind = if index == graph.root { Kind::Skill } else { Kind::Dependency };
                (facts.name.clone(), kind, Some(facts))
            }
            Some(Owner::Standard) => ("std".to_owned(), Kind::Standard, None),
            Some(Owner::Other) | None => (function.krate.clone(), Kind::Other, None),
        };
        let entry = by.entry(key.clone()).or_insert_with(|| PackageBytes {
            name: key,
            version: facts.map(|f| f.version.clone()),
            kind,
            code: 0,
            data: 0,
            functions: 0,
            path: facts.map(|f| f.path.clone()).unwrap_or_default(),
            feature: facts.and_then(|f| f.feature.clone()),
        });
        entry.code += function.bytes;
        entry.functions += 1;
        entry.data += data.by_function.get(&function.index).copied().unwrap_or(0);
    }
    let mut packages: Vec<PackageBytes> = by.into_values().collect();
    packages.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then(a.name.cmp(&b.name)));
    let cost = |name: &str| packages.iter().find(|p| p.name == name).map_or(0, PackageBytes::bytes);
    let mut removals: Vec<Removal> = graph
        .removable()
        .into_iter()
        .map(|(dep, gone)| {
            let mut names: Vec<String> = gone.iter().map(|&i| graph.packages[i].name.clone()).collect();
            names.sort_by(|a, b| cost(b).cmp(&cost(a)).then(a.cmp(b)));
            let bytes = names.iter().map(|n| cost(n)).sum();
            Removal { dependency: graph.packages[dep].name.clone(), packages: names, bytes }
        })
        .collect();
    removals.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.dependency.cmp(&b.dependency)));
    let mut to_fit = Vec::new();
    let mut left = sizes.bytes;
    for removal in removals.iter().filter(|r| r.bytes > 0) {
        if left <= cap {
            break;
        }
        left = left.saturating_sub(removal.bytes);
        to_fit.push(removal.dependency.clone());
    }
    if left > cap {
        to_fit.clear();
    }
    let advice =
        size_advice(&profile).into_iter().map(|(key, value, now)| Advice { key, value, now }).collect();
    FitReport {
        bytes: sizes.bytes,
        cap,
        code,
        named_code_share: if code == 0 { 1.0 } else { named as f64 / code as f64 },
        data: data.total,
        data_unattributed: data.unattributed,
        packages,
        removals,
        to_fit,
        profile,
        advice,
    }
}
