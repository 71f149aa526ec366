//! The skill's dependency graph, as cargo resolved it for the module's
//! target: which package a crate name in a function's path belongs to, the
//! path of dependencies that pulls it in (`weather → url → idna`), whether
//! a feature that could be turned off brings it, and which packages only
//! one direct dependency pulls in (what goes when that dependency goes).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cargo_metadata::{DependencyKind, Metadata, PackageId};
use serde::Serialize;

/// The crates of Rust's own library: in every module, never in the graph.
/// A package of the graph by one of these names wins.
const STANDARD: &[&str] = &[
    "core",
    "alloc",
    "std",
    "compiler_builtins",
    "dlmalloc",
    "hashbrown",
    "panic_abort",
    "panic_unwind",
    "rustc_demangle",
    "std_detect",
];

/// One package of the graph, by its index in `Graph::packages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageFacts {
    pub name: String,
    pub version: String,
    /// The name its code's paths start with (`regex_lite` for `regex-lite`).
    pub crate_name: String,
    /// The shortest chain of package names from the skill to this one,
    /// the skill first.
    pub path: Vec<String>,
    /// What brings it in and could be turned off, when something does: an
    /// optional dependency a feature enables, or default features left on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub packages: Vec<PackageFacts>,
    /// Index of the package whose lib crate has this name.
    by_crate: BTreeMap<String, usize>,
    /// Normal dependencies of each package, by index.
    edges: Vec<BTreeSet<usize>>,
    /// The skill's own package.
    pub root: usize,
}

/// Where a crate name in a path belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Package(usize),
    /// Rust's own library (`core`, `alloc`, `std`, ...).
    Standard,
    /// Neither: a name without a path (an export, a compiler intrinsic),
    /// or a crate the graph does not have.
    Other,
}

impl Graph {
    /// The normal-dependency graph below `root` in cargo's resolve.
    pub fn new(metadata: &Metadata, root: &PackageId) -> Graph {
        let Some(resolve) = &metadata.resolve else { return Graph::default() };
        let index: BTreeMap<&PackageId, usize> =
            metadata.packages.iter().enumerate().map(|(i, p)| (&p.id, i)).collect();
        let mut edges = vec![BTreeSet::new(); metadata.packages.len()];
        let mut features: Vec<Vec<String>> = vec![Vec::new(); metadata.packages.len()];
        for node in &resolve.nodes {
            let Some(&from) = index.get(&node.id) else { continue };
            features[from] = node.features.iter().map(|f| f.to_string()).collect();
            for dep in &node.deps {
                let normal = dep.dep_kinds.is_empty()
                    || dep.dep_kinds.iter().any(|k| k.kind == DependencyKind::Normal);
                if let (true, Some(&to)) = (normal, index.get(&dep.pkg)) {
                    edges[from].insert(to);
                }
            }
        }
        let root = index.get(root).copied().unwrap_or(0);
        // Breadth first from the skill: each package's shortest path.
        let mut parent: Vec<Option<usize>> = vec![None; metadata.packages.len()];
        let mut seen = vec![false; metadata.packages.len()];
        let mut queue = VecDeque::from([root]);
        seen[root] = true;
        while let Some(at) = queue.pop_front() {
            for &next in &edges[at] {
                if !seen[next] {
                    seen[next] = true;
                    parent[next] = Some(at);
                    queue.push_back(next);
                }
            }
        }
        let mut packages = Vec::new();
        let mut by_crate = BTreeMap::new();
        let mut renumber = vec![usize::MAX; metadata.packages.len()];
        for (i, package) in metadata.packages.iter().enumerate().filter(|(i, _)| seen[*i]) {
            let mut path = vec![package.name.to_string()];
            let mut at = i;
            while let Some(up) = parent[at] {
                path.push(metadata.packages[up].name.to_string());
                at = up;
            }
            path.reverse();
            let crate_name = package
                .targets
                .iter()
                .find(|t| t.is_lib() || t.is_cdylib() || t.is_rlib() || t.is_proc_macro())
                .map_or_else(|| package.name.replace('-', "_"), |t| t.name.replace('-', "_"));
            let feature = parent[i]
                .and_then(|up| feature_bringing(&metadata.packages[up], &features[up], package, up == root));
            renumber[i] = packages.len();
            by_crate.insert(crate_name.clone(), packages.len());
            packages.push(PackageFacts {
                name: package.name.to_string(),
                version: package.version.to_string(),
                crate_name,
                path,
                feature,
            });
        }
        let edges = (0..metadata.packages.len())
            .filter(|i| seen[*i])
            .map(|i| edges[i].iter().map(|to| renumber[*to]).collect())
            .collect();
        Graph { packages, by_crate, edges, root: renumber[root] }
    }

    /// The package named `name`, when the graph has it.
    pub fn package(&self, name: &str) -> Option<usize> {
        self.packages.iter().position(|p| p.name == name)
    }

    /// The owner of code whose path starts with `krate`.
    pub fn owner(&self, krate: &str) -> Owner {
        if let Some(&index) = self.by_crate.get(krate) {
            Owner::Package(index)
        } else if STANDARD.contains(&krate) {
            Owner::Standard
        } else {
            Owner::Other
        }
    }

    /// The skill's direct dependencies, each with the packages that go
    /// with it: itself and everything only it pulls in (nothing else in
    /// the graph reaches them once it is gone).
    pub fn removable(&self) -> Vec<(usize, BTreeSet<usize>)> {
        let Some(direct) = self.edges.get(self.root) else { return Vec::new() };
        let everything = self.reachable(None);
        direct
            .iter()
            .map(|&dep| {
                let without = self.reachable(Some(dep));
                let gone = everything.difference(&without).copied().collect();
                (dep, gone)
            })
            .collect()
    }

    /// What the skill reaches, not passing through `skip`.
    fn reachable(&self, skip: Option<usize>) -> BTreeSet<usize> {
        let mut seen = BTreeSet::from([self.root]);
        let mut stack = vec![self.root];
        while let Some(at) = stack.pop() {
            for &next in &self.edges[at] {
                if Some(next) != skip && seen.insert(next) {
                    stack.push(next);
                }
            }
        }
        seen
    }
}

/// What in `parent` brings in `child`: an optional dependency switched on
/// by one of `parent`'s enabled features (`url`'s feature `serde`), or, for
/// the skill's own dependency declared with default features, those
/// defaults.
fn feature_bringing(
    parent: &cargo_metadata::Package,
    enabled: &[String],
    child: &cargo_metadata::Package,
    parent_is_skill: bool,
) -> Option<String> {
    let declared = parent
        .dependencies
        .iter()
        .find(|d| d.name == child.name.as_str() && d.kind == DependencyKind::Normal)?;
    let key = declared.rename.as_deref().unwrap_or(child.name.as_str());
    if declared.optional {
        let enables = |feature: &str| {
            parent.features.get(feature).is_some_and(|list| {
                list.iter().any(|item| {
                    item == key || item == &format!("dep:{key}") || item.starts_with(&format!("{key}/"))
                })
            })
        };
        // A named feature (`wasmbind`) before the implicit one named after
        // the dependency, which the named one turns on.
        let by = enabled
            .iter()
            .find(|f| f.as_str() != key && enables(f))
            .or_else(|| enabled.iter().find(|f| enables(f)))
            .cloned()
            .unwrap_or_else(|| key.to_owned());
        let default = default_closure(parent).contains(&by);
        return Some(format!(
            "optional in `{}`, turned on by its feature `{by}`{}",
            parent.name,
            if default { " (a default feature)" } else { "" }
        ));
    }
    let closure = default_closure(child);
    let defaults: Vec<&str> = closure.iter().map(String::as_str).collect();
    if parent_is_skill && declared.uses_default_features && !defaults.is_empty() {
        return Some(format!(
            "with its default features (`{}`): `default-features = false` in `[dependencies]` turns them off",
            defaults.join("`, `")
        ));
    }
    None
}

/// The features `default` turns on, directly or through others.
fn default_closure(package: &cargo_metadata::Package) -> BTreeSet<String> {
    let mut on = BTreeSet::new();
    let mut stack = vec!["default".to_owned()];
    while let Some(feature) = stack.pop() {
        if let Some(list) = package.features.get(&feature) {
            for item in list {
                if !item.contains('/') && !item.starts_with("dep:") && on.insert(item.clone()) {
                    stack.push(item.clone());
                }
            }
        }
    }
    on
}
