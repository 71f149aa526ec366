//! Where a call's fuel goes: the wasm call stack, sampled every `interval`
//! units of fuel, each sample weighted by the fuel spent since the one
//! before.
//!
//! The engine yields every `interval` units (`fuel_async_yield_interval`);
//! the poll that sees the yield ticks the engine's epoch, and the next
//! epoch check (at the next function entry or loop header, the same places
//! the engine checks fuel) calls back with the store, where the stack is
//! captured. Both points depend only on the guest's own execution, so the
//! same call gives the same samples, and neither changes the fuel a guest
//! consumes: the profiled call's total is the unprofiled call's.

use std::collections::BTreeMap;

use serde::Serialize;
use wasmtime::WasmBacktrace;

/// About how many samples a profile takes when the caller sets no interval.
pub const PROFILE_SAMPLES: u64 = 5_000;

/// Fuel between two samples when the call's fuel cannot be learnt first.
pub const DEFAULT_PROFILE_INTERVAL: u64 = 1_000;

/// Frames a sampled stack keeps (innermost first): deeper stacks lose their
/// outermost frames, and their fuel is counted as truncated.
pub const MAX_PROFILE_FRAMES: usize = 256;

/// The samples of one call, by function index (as the module numbers them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RawProfile {
    /// Fuel between two samples.
    pub interval: u64,
    /// Samples taken.
    pub samples: u64,
    /// Each distinct stack (function indices, outermost first) and the fuel
    /// attributed to it.
    pub stacks: BTreeMap<Vec<u32>, u64>,
    /// The names the module's `name` section gives the sampled functions,
    /// as written there (possibly mangled).
    pub names: BTreeMap<u32, String>,
    /// Fuel after the last sample, whose stack was not seen.
    pub tail: u64,
    /// Fuel of stacks deeper than [`MAX_PROFILE_FRAMES`] (their outer frames
    /// are missing).
    pub truncated: u64,
    /// The fuel of the same call unprofiled, when it ran first to choose
    /// the interval: equal to [`RawProfile::total`] unless the call's
    /// outcome depends on time.
    pub unprofiled_fuel: Option<u64>,
}

impl RawProfile {
    /// All the fuel the profile accounts for: every stack and the tail.
    pub fn total(&self) -> u64 {
        self.stacks.values().fold(self.tail, |sum, fuel| sum.saturating_add(*fuel))
    }
}

/// The sampler a profiled call's store carries.
pub(super) struct Sampler {
    budget: u64,
    /// Fuel consumed at the last sample.
    seen: u64,
    profile: RawProfile,
}

impl Sampler {
    pub(super) fn new(budget: u64, interval: u64) -> Sampler {
        Sampler { budget, seen: 0, profile: RawProfile { interval, ..RawProfile::default() } }
    }

    /// Attributes the fuel spent since the last sample to `trace`'s stack;
    /// `fuel_left` is the store's fuel now.
    pub(super) fn sample(&mut self, fuel_left: u64, trace: &WasmBacktrace) {
        let consumed = self.budget.saturating_sub(fuel_left);
        let weight = consumed.saturating_sub(self.seen);
        self.seen = self.seen.max(consumed);
        if weight == 0 {
            return;
        }
        self.profile.samples += 1;
        let frames = trace.frames();
        if frames.len() >= MAX_PROFILE_FRAMES {
            self.profile.truncated = self.profile.truncated.saturating_add(weight);
        }
        let stack: Vec<u32> = frames
            .iter()
            .rev()
            .map(|frame| {
                let index = frame.func_index();
                if let Some(name) = frame.func_name() {
                    self.profile.names.entry(index).or_insert_with(|| name.to_owned());
                }
                index
            })
            .collect();
        let fuel = self.profile.stacks.entry(stack).or_default();
        *fuel = fuel.saturating_add(weight);
    }

    /// The profile of a call that consumed `consumed` fuel in all.
    pub(super) fn finish(mut self, consumed: u64) -> RawProfile {
        self.profile.tail = consumed.saturating_sub(self.seen);
        self.profile
    }
}
