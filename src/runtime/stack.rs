//! The call stack of a failed call, for people: the engine's frames named
//! from the module's named copy (with file and line when the copy has line
//! tables), what a Rust panic was (`core::panicking::panic_bounds_check`
//! is an index out of bounds), and the first frame in the skill's own
//! crate. A Rust skill built with `panic = "abort"` reaches the host as an
//! `unreachable` trap, eight frames deep in the panic machinery; the frame
//! that matters is below them.

use serde::Serialize;

use crate::symbols::Symbols;

/// One frame, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// The function's index in the module.
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `file:line`, when the named copy has line tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The instruction's offset in its function.
    #[serde(skip)]
    pub offset: Option<u32>,
}

/// The frames of a failed call's error, when the engine kept them.
pub(super) fn frames_of(error: &wasmtime::Error) -> Vec<Frame> {
    error
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(|trace| {
            trace
                .frames()
                .iter()
                .map(|frame| Frame {
                    index: frame.func_index(),
                    name: None,
                    location: None,
                    offset: frame.func_offset().and_then(|o| u32::try_from(o).ok()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the panicking function means, for the functions of Rust's library
/// a panic goes through (paths without their generics).
const PANICS: &[(&str, &str)] = &[
    ("core::panicking::panic_bounds_check", "index out of bounds"),
    ("core::slice::index::slice_end_index_len_fail", "slice index out of range"),
    ("core::slice::index::slice_start_index_len_fail", "slice index out of range"),
    ("core::slice::index::slice_index_order_fail", "slice index starts after it ends"),
    ("core::str::slice_error_fail", "string slice out of range or not on a character boundary"),
    ("core::option::unwrap_failed", "`unwrap()` on a `None` value"),
    ("core::option::expect_failed", "`expect()` on a `None` value"),
    ("core::result::unwrap_failed", "`unwrap()` or `expect()` on an `Err` value"),
    ("core::panicking::panic_const::panic_const_div_by_zero", "division by zero"),
    ("core::panicking::panic_const::panic_const_rem_by_zero", "remainder by zero"),
    ("core::panicking::panic_const::panic_const_add_overflow", "arithmetic overflow (addition)"),
    ("core::panicking::panic_const::panic_const_sub_overflow", "arithmetic overflow (subtraction)"),
    ("core::panicking::panic_const::panic_const_mul_overflow", "arithmetic overflow (multiplication)"),
    ("core::cell::panic_already_borrowed", "a `RefCell` already borrowed"),
    ("core::cell::panic_already_mutably_borrowed", "a `RefCell` already mutably borrowed"),
    ("alloc::raw_vec::capacity_overflow", "a collection grew past its capacity"),
    ("alloc::alloc::handle_alloc_error", "an allocation failed: memory ran out"),
    ("std::alloc::default_alloc_error_hook", "an allocation failed: memory ran out"),
    ("core::panicking::panic_fmt", "a panic (`panic!`, `assert!`, `unreachable!`, ...)"),
    ("core::panicking::panic", "a panic"),
];

/// Crates whose frames are the library's or the panic machinery, not the
/// code that failed.
fn is_library(name: &str) -> bool {
    let krate = crate::sizes::crate_of(name);
    matches!(
        krate.as_str(),
        "core" | "alloc" | "std" | "compiler_builtins" | "dlmalloc" | "__rustc" | "panic_abort"
    )
}

/// The call stack of a failed call, innermost first, named from the
/// module's named copy, and what it means.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Trace {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<Frame>,
    #[serde(flatten)]
    pub explained: Explained,
    /// Out of fuel: the function that spent the most of it, from a quick
    /// profile of the same call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hottest: Option<String>,
}

/// A call stack explained: the frames named, the panic, the skill's frame.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Explained {
    /// What panicked (`index out of bounds`), when the stack went through
    /// one of Rust's panicking functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panic: Option<String>,
    /// The frame that panicked or failed, outside Rust's library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The first frame in the skill's own crate, when `at` is not it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skill_frame: Option<String>,
}

/// Names `frames` from `symbols` and says what they mean.
pub fn explain(frames: &mut [Frame], symbols: &Symbols) -> Explained {
    let probes: Vec<(u32, u32)> = frames.iter().map(|f| (f.index, f.offset.unwrap_or(0))).collect();
    let locations = symbols.locations(&probes);
    for (frame, location) in frames.iter_mut().zip(locations) {
        if let Some(name) = symbols.names.get(&frame.index) {
            frame.name = Some(crate::named::clean(name));
        }
        frame.location = location.filter(|_| frame.offset.is_some());
    }
    let shown = |frame: &Frame| {
        let name = frame.name.clone().unwrap_or_else(|| format!("function #{}", frame.index));
        match &frame.location {
            Some(location) => format!("{name} at {location}"),
            None => name,
        }
    };
    // The outermost of the panicking functions is the specific one
    // (`panic_bounds_check` calls `panic_fmt`).
    let panic = frames.iter().rev().find_map(|frame| {
        let name = frame.name.as_deref()?;
        let path = name.split('<').next().unwrap_or(name);
        PANICS
            .iter()
            .find(|(function, _)| path == *function)
            .map(|(function, meaning)| format!("{meaning} (`{function}`)"))
    });
    let outside = frames.iter().find(|f| f.name.as_deref().is_some_and(|n| !is_library(n)));
    let own = |frame: &&Frame| {
        let Some(name) = frame.name.as_deref() else { return false };
        symbols.skill_crate.as_deref().is_some_and(|krate| crate::sizes::crate_of(name) == krate)
            || (crate::sizes::crate_of(name) == "[no path]" && !name.starts_with("__"))
    };
    let skill = frames.iter().find(own);
    let at = outside.map(shown);
    let skill_frame = skill.map(shown).filter(|s| Some(s) != at.as_ref());
    Explained { panic, at, skill_frame }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(index: u32) -> Frame {
        Frame { index, name: None, location: None, offset: None }
    }

    #[test]
    fn a_bounds_check_panic_is_named_with_the_skills_frame() {
        let names = [
            (0, "__rustc::rust_panic"),
            (1, "core::panicking::panic_fmt"),
            (2, "core::panicking::panic_bounds_check"),
            (3, "serde_json::value::Value::pick::h0123456789abcdef"),
            (4, "weather::check"),
            (5, "run"),
        ];
        let symbols = Symbols::from_names(
            names.iter().map(|(i, n)| (*i, (*n).to_owned())).collect(),
            Some("weather".to_owned()),
        );
        let mut frames: Vec<Frame> = (0..6).map(frame).collect();
        let explained = explain(&mut frames, &symbols);
        assert_eq!(
            explained.panic.as_deref(),
            Some("index out of bounds (`core::panicking::panic_bounds_check`)")
        );
        assert_eq!(explained.at.as_deref(), Some("serde_json::value::Value::pick"), "the hash is gone");
        assert_eq!(explained.skill_frame.as_deref(), Some("weather::check"));
        assert_eq!(frames[4].name.as_deref(), Some("weather::check"));

        // Without names: no meaning is guessed.
        let mut bare: Vec<Frame> = (0..3).map(frame).collect();
        assert_eq!(explain(&mut bare, &Symbols::default()), Explained::default());
    }
}
