//! Records the commit this tool was built from, when it is known, so `new`
//! can pin the workflow's action to exactly that commit: a crates.io
//! package names it in `.cargo_vcs_info.json` (written by `cargo package`),
//! and the release workflow passes `PALYRA_SKILL_SOURCE_COMMIT`. A local
//! build knows none, and `new` says so.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PALYRA_SKILL_SOURCE_COMMIT");
    let from_env = std::env::var("PALYRA_SKILL_SOURCE_COMMIT").ok();
    let from_package = std::fs::read(".cargo_vcs_info.json")
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|info| info["git"]["sha1"].as_str().map(str::to_owned));
    let commit =
        from_env.or(from_package).filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    println!(
        "cargo:rustc-env=PALYRA_SKILL_SOURCE_COMMIT={}",
        commit.unwrap_or_default().to_ascii_lowercase()
    );
}
