//! A fuel profile in the forms people read: a flame graph (SVG, drawn by
//! inferno from folded stacks), the same samples for speedscope (its
//! sampled-profile JSON, which the Firefox Profiler also imports), and the
//! functions and crates that spend the most fuel.
//!
//! Every figure is fuel, not time: the same call gives the same profile,
//! byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};

use crate::fsutil::{Existing, write_atomic};
use crate::runtime::{MAX_PROFILE_STACKS, RawProfile};
use crate::sizes::{clean, crate_of};

/// The frame that holds the fuel spent after the last sample.
pub const TAIL_FRAME: &str = "[after the last sample]";

/// The frame that holds the fuel of samples whose stack was new once the
/// profile kept [`MAX_PROFILE_STACKS`] distinct stacks.
pub const OTHER_FRAME: &str = "[other stacks]";

/// What a frame of the profile stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Function(u32),
    Tail,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("could not draw the flame graph: {0}")]
    Draw(String),
    #[error("could not write `{path}`: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "tool `{id}` is named `{name}`, which is not one safe folder name: `test --fuel-profile DIR` writes `DIR/<tool name>/<case>.svg`, so a tool's name must be 1 to {MAX_TOOL_DIR_LEN} of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`; rename the tool (and its `fixtures/` folder)"
    )]
    ToolName { id: String, name: String },
}

/// The longest tool name that names a profile folder.
pub const MAX_TOOL_DIR_LEN: usize = 64;

/// The folder of a tool's profiles under `test --fuel-profile DIR`: its
/// name (trimmed, as `fixtures/<tool name>/` takes it), when that is one
/// path component of POSIX's portable file name characters that is
/// neither hidden nor an option (`A-Z a-z 0-9 . _ -`, not starting with `.`
/// or `-`, so never `.`, `..`, absolute, or holding a separator, a drive
/// or a control character). A manifest's tool name is free text, so
/// anything else is refused, never written outside `DIR`.
pub fn tool_dir<'a>(id: &str, name: &'a str) -> Result<&'a str, ProfileError> {
    let trimmed = name.trim();
    let safe = (1..=MAX_TOOL_DIR_LEN).contains(&trimmed.len())
        && !trimmed.starts_with(['.', '-'])
        && trimmed.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if safe {
        Ok(trimmed)
    } else {
        Err(ProfileError::ToolName { id: id.to_owned(), name: name.escape_debug().to_string() })
    }
}

/// One function of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The demangled name without its hash, or `function #N`.
    pub name: String,
    #[serde(rename = "crate")]
    pub krate: String,
    /// The module's index of the function; `None` for the tail.
    pub function: Option<u32>,
    /// Whether the module named it.
    pub named: bool,
}

/// Fuel by function or by crate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spend {
    pub name: String,
    /// Fuel spent in the function itself (or the crate's functions).
    pub self_fuel: u64,
    /// Share of the call's fuel, in percent.
    pub share: f64,
}

/// One distinct stack, outermost frame first, and its fuel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stack {
    pub frames: Vec<usize>,
    pub fuel: u64,
}

/// Where a call's fuel went.
#[derive(Debug, Clone, Serialize)]
pub struct FuelProfile {
    /// All the fuel of the call: the sum of every stack's.
    pub total_fuel: u64,
    /// Fuel between two samples.
    pub interval: u64,
    pub samples: u64,
    /// Fuel whose innermost function has a name.
    pub named_fuel: u64,
    /// Fuel of stacks that were cut at the frame limit (outer frames missing).
    pub truncated_fuel: u64,
    /// Fuel of the samples whose stack was new once [`MAX_PROFILE_STACKS`]
    /// were kept: the frame [`OTHER_FRAME`].
    pub other_fuel: u64,
    /// The samples counted in `other_fuel`.
    pub other_samples: u64,
    pub frames: Vec<Frame>,
    pub stacks: Vec<Stack>,
}

impl FuelProfile {
    /// The profile of `raw`, named from the module's own `name` section.
    pub fn new(raw: &RawProfile) -> FuelProfile {
        let mut frames: Vec<Frame> = Vec::new();
        let mut index_of: BTreeMap<Key, usize> = BTreeMap::new();
        let mut frame = |key: Key| -> usize {
            *index_of.entry(key).or_insert_with(|| {
                let unnamed = |name: String, function| Frame {
                    name,
                    krate: "[unnamed]".to_owned(),
                    function,
                    named: false,
                };
                frames.push(match key {
                    Key::Function(index) => match raw.names.get(&index).map(|n| clean(n)) {
                        Some(name) => {
                            Frame { krate: crate_of(&name), name, function: Some(index), named: true }
                        }
                        None => unnamed(format!("function #{index}"), Some(index)),
                    },
                    Key::Tail => unnamed(TAIL_FRAME.to_owned(), None),
                    Key::Other => unnamed(OTHER_FRAME.to_owned(), None),
                });
                frames.len() - 1
            })
        };
        let mut stacks: Vec<Stack> = raw
            .stacks
            .iter()
            .map(|(functions, fuel)| Stack {
                frames: functions.iter().map(|f| frame(Key::Function(*f))).collect(),
                fuel: *fuel,
            })
            .collect();
        if raw.other > 0 {
            stacks.push(Stack { frames: vec![frame(Key::Other)], fuel: raw.other });
        }
        if raw.tail > 0 {
            stacks.push(Stack { frames: vec![frame(Key::Tail)], fuel: raw.tail });
        }
        let named_fuel = stacks
            .iter()
            .filter(|s| s.frames.last().is_some_and(|f| frames[*f].named))
            .fold(0u64, |sum, s| sum.saturating_add(s.fuel));
        FuelProfile {
            total_fuel: raw.total(),
            interval: raw.interval,
            samples: raw.samples,
            named_fuel,
            truncated_fuel: raw.truncated,
            other_fuel: raw.other,
            other_samples: raw.other_samples,
            frames,
            stacks,
        }
    }

    /// The share of the fuel whose innermost function has a name, in
    /// percent, of the fuel whose stack the profile kept (the other stacks
    /// say nothing of names).
    pub fn named_share(&self) -> f64 {
        percent(self.named_fuel, self.total_fuel.saturating_sub(self.other_fuel))
    }

    /// Functions by the fuel spent in them (not in their callees), most first.
    pub fn top_functions(&self, n: usize) -> Vec<Spend> {
        let mut by_frame: BTreeMap<usize, u64> = BTreeMap::new();
        for stack in &self.stacks {
            if let Some(leaf) = stack.frames.last() {
                let fuel = by_frame.entry(*leaf).or_default();
                *fuel = fuel.saturating_add(stack.fuel);
            }
        }
        self.ranked(by_frame.into_iter().map(|(f, fuel)| (self.frames[f].name.clone(), fuel)), n)
    }

    /// Crates by the fuel spent in their functions, most first.
    pub fn top_crates(&self, n: usize) -> Vec<Spend> {
        let mut by_crate: BTreeMap<&str, u64> = BTreeMap::new();
        for stack in &self.stacks {
            if let Some(leaf) = stack.frames.last() {
                let fuel = by_crate.entry(&self.frames[*leaf].krate).or_default();
                *fuel = fuel.saturating_add(stack.fuel);
            }
        }
        self.ranked(by_crate.into_iter().map(|(k, fuel)| (k.to_owned(), fuel)), n)
    }

    fn ranked(&self, spends: impl Iterator<Item = (String, u64)>, n: usize) -> Vec<Spend> {
        let mut ranked: Vec<Spend> = spends
            .map(|(name, self_fuel)| Spend { share: percent(self_fuel, self.total_fuel), name, self_fuel })
            .collect();
        ranked.sort_by(|a, b| b.self_fuel.cmp(&a.self_fuel).then_with(|| a.name.cmp(&b.name)));
        ranked.truncate(n);
        ranked
    }

    /// Folded stacks (`outer;inner fuel`), one line per stack, as
    /// flamegraph.pl and inferno read them.
    pub fn folded(&self) -> Vec<String> {
        self.stacks
            .iter()
            .map(|stack| {
                let names: Vec<String> =
                    stack.frames.iter().map(|f| self.frames[*f].name.replace(';', ":")).collect();
                format!("{} {}", names.join(";"), stack.fuel)
            })
            .collect()
    }

    /// The flame graph, titled `title`, widths in fuel.
    pub fn svg(&self, title: &str) -> Result<Vec<u8>, ProfileError> {
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        options.subtitle = Some(format!(
            "{} fuel, a sample every {} units",
            crate::text::thousands(self.total_fuel),
            crate::text::thousands(self.interval)
        ));
        options.count_name = "fuel".to_owned();
        // Colours from each name's hash, never random: the same profile
        // draws the same bytes.
        options.hash = true;
        options.deterministic = true;
        let lines = self.folded();
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut svg)
            .map_err(|e| ProfileError::Draw(e.to_string()))?;
        Ok(svg)
    }

    /// The profile in speedscope's file format: one sampled profile whose
    /// unit is fuel (`none` to speedscope), weights in fuel.
    pub fn speedscope(&self, name: &str) -> Value {
        json!({
            "$schema": "https://www.speedscope.app/file-format-schema.json",
            "version": env!("CARGO_PKG_VERSION"),
            "exporter": concat!("cargo-palyra-skill ", env!("CARGO_PKG_VERSION")),
            "name": name,
            "activeProfileIndex": 0,
            "shared": {
                "frames": self.frames.iter().map(|f| json!({ "name": f.name })).collect::<Vec<_>>(),
            },
            "profiles": [{
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": self.total_fuel,
                "samples": self.stacks.iter().map(|s| s.frames.clone()).collect::<Vec<_>>(),
                "weights": self.stacks.iter().map(|s| s.fuel).collect::<Vec<_>>(),
            }],
        })
    }

    /// Writes the flame graph to `svg` and the speedscope profile beside
    /// it (`<stem>.speedscope.json`); returns that second path.
    pub fn write(&self, svg: &Path, title: &str) -> Result<PathBuf, ProfileError> {
        let json_path = speedscope_path(svg);
        let drawn = self.svg(title)?;
        let mut json = serde_json::to_vec_pretty(&self.speedscope(title)).unwrap_or_default();
        json.push(b'\n');
        for (path, bytes) in [(svg, &drawn), (json_path.as_path(), &json)] {
            write_atomic(path, bytes, Some(0o644), Existing::Replace)
                .map_err(|source| ProfileError::Write { path: path.to_owned(), source })?;
        }
        Ok(json_path)
    }
}

/// What the human output lists of each.
const TOP: usize = 10;

/// A written profile, as the JSON reports give it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileSummary {
    pub svg: String,
    pub speedscope: String,
    pub total_fuel: u64,
    pub samples: u64,
    /// Fuel between two samples.
    pub interval: u64,
    /// Percent of the fuel whose innermost function has a name.
    pub named_share: f64,
    /// Fuel of stacks cut at the frame limit.
    pub truncated_fuel: u64,
    /// Distinct stacks kept, at most `stack_limit`.
    pub distinct_stacks: usize,
    /// The most distinct stacks a profile keeps.
    pub stack_limit: usize,
    /// Whether samples of new stacks were counted under `[other stacks]`
    /// because `stack_limit` stacks were kept.
    pub stack_limit_reached: bool,
    /// Fuel and samples under `[other stacks]` (part of `total_fuel`).
    pub other_stacks_fuel: u64,
    pub other_stacks_samples: u64,
    pub top_functions: Vec<Spend>,
    pub top_crates: Vec<Spend>,
    /// The same call's fuel unprofiled, when it ran first to choose the
    /// interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unprofiled_fuel: Option<u64>,
}

/// Writes `raw` as a flame graph to `svg` and a speedscope profile beside it.
pub fn write(raw: &RawProfile, svg: &Path, title: &str) -> Result<ProfileSummary, ProfileError> {
    if let Some(parent) = svg.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|source| ProfileError::Write { path: parent.to_owned(), source })?;
    }
    let profile = FuelProfile::new(raw);
    let speedscope = profile.write(svg, title)?;
    Ok(ProfileSummary {
        svg: svg.display().to_string(),
        speedscope: speedscope.display().to_string(),
        total_fuel: profile.total_fuel,
        samples: profile.samples,
        interval: profile.interval,
        named_share: profile.named_share(),
        truncated_fuel: profile.truncated_fuel,
        distinct_stacks: raw.stacks.len(),
        stack_limit: MAX_PROFILE_STACKS,
        stack_limit_reached: raw.stack_limit_reached(),
        other_stacks_fuel: profile.other_fuel,
        other_stacks_samples: profile.other_samples,
        top_functions: profile.top_functions(TOP),
        top_crates: profile.top_crates(TOP),
        unprofiled_fuel: raw.unprofiled_fuel,
    })
}

/// `dir/name.svg` → `dir/name.speedscope.json`.
pub fn speedscope_path(svg: &Path) -> PathBuf {
    let stem = svg.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "profile".into());
    svg.with_file_name(format!("{stem}.speedscope.json"))
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawProfile {
        let mut raw = RawProfile { interval: 10, samples: 3, tail: 5, ..RawProfile::default() };
        raw.stacks.insert(vec![0, 1], 60);
        raw.stacks.insert(vec![0, 2], 30);
        raw.stacks.insert(vec![0], 5);
        raw.names.insert(0, "run".into());
        raw.names.insert(1, "_ZN10serde_json2de5parse17h0123456789abcdefE".into());
        raw.names.insert(2, "<script>[u8; 4]</script>".into());
        raw
    }

    #[test]
    fn fuel_goes_to_the_innermost_function_and_the_total_is_kept() {
        let profile = FuelProfile::new(&raw());
        assert_eq!(profile.total_fuel, 100);
        assert_eq!(profile.named_fuel, 95, "all but the tail");
        let top = profile.top_functions(10);
        assert_eq!((top[0].name.as_str(), top[0].self_fuel), ("serde_json::de::parse", 60));
        assert_eq!(top.iter().map(|s| s.self_fuel).sum::<u64>(), 100);
        assert_eq!(profile.top_crates(1)[0].name, "serde_json");
        assert!(profile.folded().contains(&"run;<script>[u8: 4]</script> 30".to_owned()));
        assert!(profile.folded().contains(&format!("{TAIL_FRAME} 5")));
    }

    #[test]
    fn the_other_stacks_are_one_frame_counted_in_the_total_but_not_the_named_share() {
        let mut raw = raw();
        raw.other = 100;
        raw.other_samples = 4;
        let profile = FuelProfile::new(&raw);
        assert_eq!(profile.total_fuel, 200);
        assert!(profile.folded().contains(&format!("{OTHER_FRAME} 100")));
        assert_eq!(profile.stacks.iter().map(|s| s.fuel).sum::<u64>(), 200, "the weights add up");
        assert_eq!(profile.named_share(), 95.0, "of the fuel whose stack was kept");
        let other = profile.frames.iter().find(|f| f.name == OTHER_FRAME).unwrap();
        assert!(!other.named && other.function.is_none());
    }

    #[test]
    fn a_tool_name_names_a_profile_folder_only_when_it_is_one_safe_component() {
        for name in ["check", " check ", "get_weather-2", "v1.2", "A"] {
            assert_eq!(tool_dir("acme.t", name).unwrap(), name.trim());
        }
        let long = "x".repeat(MAX_TOOL_DIR_LEN + 1);
        for name in [
            "../x", "/abs", "..", ".", ".hidden", "-rf", "a/b", "a\\b", "C:x", "", "  ", "a b", "é", "a\nb",
            &long,
        ] {
            let error = tool_dir("acme.t", name).unwrap_err().to_string();
            assert!(
                error.contains("tool `acme.t`") && error.contains("rename the tool"),
                "{name:?}: {error}"
            );
        }
    }

    #[test]
    fn the_svg_escapes_names_and_is_the_same_every_time() {
        let profile = FuelProfile::new(&raw());
        let svg = String::from_utf8(profile.svg("t").unwrap()).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("serde_json::de::parse"));
        assert!(!svg.contains("<script>[u8"), "a name is text, never markup");
        assert_eq!(profile.svg("t").unwrap(), svg.as_bytes());
        let json = profile.speedscope("t");
        assert_eq!(json["profiles"][0]["weights"].as_array().unwrap().len(), profile.stacks.len());
    }
}
