//! Which crate brings an import the host lacks, and how to be rid of it.
//! `chrono`'s default `wasmbind` feature, for one, pulls in `wasm-bindgen`
//! on `wasm32-unknown-unknown`, whose imports are JavaScript glue.

use serde::Serialize;

use super::graph::Graph;
use crate::host::LinkProblem;

/// The host fact behind every such import.
pub const HOST_FACT: &str = "Palyra 0.1.0 links only the eight `palyra:plugins/host-capabilities@0.1.0` functions: no JavaScript, no clock, no randomness, no input";

/// What brings an import in, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportHint {
    /// The package that declares the import.
    pub package: String,
    /// The skill first, that package last.
    pub path: Vec<String>,
    /// Where the chain could be cut: an optional dependency and the feature
    /// that turns it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<String>,
    pub fix: String,
}

/// The package whose code declares imports from `module`, by the module
/// names its generated code uses.
fn declaring_package(module: &str) -> Option<&'static str> {
    if module.starts_with("__wbindgen") || module == "wbg" { Some("wasm-bindgen") } else { None }
}

/// What brings in an import from `module`, when the graph says.
pub fn import_hint(module: &str, graph: &Graph) -> Option<ImportHint> {
    let package = graph.package(declaring_package(module)?)?;
    let facts = &graph.packages[package];
    let path = facts.path.clone();
    // The first package on the path that an optional feature brings.
    let cut = path.iter().skip(1).filter_map(|name| graph.package(name)).find_map(|i| {
        let facts = &graph.packages[i];
        facts.feature.clone().filter(|f| f.starts_with("optional in")).map(|f| (facts.name.clone(), f))
    });
    let direct = path.get(1).cloned().unwrap_or_else(|| facts.name.clone());
    let (feature, fix) = match cut {
        Some((name, feature)) => {
            let fix =
                format!("turn that feature off (the package `{name}` is {feature}), or drop `{direct}`");
            (Some(feature), fix)
        }
        None => (None, format!("drop `{direct}`, or use a crate that does not need `{}`", facts.name)),
    };
    Some(ImportHint { package: facts.name.clone(), path, feature, fix })
}

/// The imports the host cannot link, one line each, and the fix: the
/// crate and feature that bring them when the graph says, else the
/// general one. `None` when there are none.
pub fn explain(problems: &[LinkProblem], graph: &Graph) -> Option<(String, String)> {
    if problems.is_empty() {
        return None;
    }
    let list =
        problems.iter().map(|p| format!("  - `{}`: {}", p.import, p.reason)).collect::<Vec<_>>().join("\n");
    // Which crates bring them: one line per import module the graph explains.
    let mut modules: Vec<&str> = problems.iter().filter_map(|p| p.import.split("::").next()).collect();
    modules.dedup();
    let mut seen = std::collections::BTreeSet::new();
    let brought: Vec<String> = modules
        .iter()
        .filter_map(|module| import_hint(module, graph))
        .filter(|hint| seen.insert(hint.package.clone()))
        .map(|hint| {
            format!("`{}` brings these imports, via {}: {}", hint.package, hint.path.join(" → "), hint.fix)
        })
        .collect();
    if !brought.is_empty() {
        return Some((format!("{list}\n{HOST_FACT}"), brought.join("\n")));
    }
    let wasi = problems.iter().any(|p| p.import.starts_with("wasi_snapshot_preview1::"));
    let fix = if wasi {
        "the crate (or a dependency) uses WASI, which Palyra 0.1.0 never links: such a module cannot run there. \
         Remove the WASI use (the host passes no input and reads only the exit code; see `cargo palyra-skill new`), \
         or opt in to the preview that runs only under this tool with `abi = \"wasi-json\"` in `[package.metadata.palyra-skill]`"
    } else {
        "import only the `palyra:plugins/host-capabilities@0.1.0` functions (`*-count`, `*-handle`); \
         `cargo tree` shows which dependency adds the others"
    };
    Some((list, fix.to_owned()))
}
