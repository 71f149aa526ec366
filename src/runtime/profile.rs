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

/// Distinct stacks a profile keeps. A stack is at most
/// [`MAX_PROFILE_FRAMES`] function indices (1 KiB), so the stacks of one
/// call take a few MiB at most, whatever its interval and however varied
/// its recursion; the fuel of a sample whose stack is new once this many
/// are kept goes to [`RawProfile::other`], so the total stays whole.
pub const MAX_PROFILE_STACKS: usize = 4_096;

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
    /// Fuel of the samples whose stack was new after [`MAX_PROFILE_STACKS`]
    /// distinct stacks were kept: counted, not lost.
    pub other: u64,
    /// The samples counted in [`RawProfile::other`].
    pub other_samples: u64,
    /// The fuel of the same call unprofiled, when it ran first to choose
    /// the interval: equal to [`RawProfile::total`] unless the call's
    /// outcome depends on time.
    pub unprofiled_fuel: Option<u64>,
}

impl RawProfile {
    /// All the fuel the profile accounts for: every stack, the other
    /// stacks and the tail.
    pub fn total(&self) -> u64 {
        self.stacks.values().fold(self.tail.saturating_add(self.other), |sum, fuel| sum.saturating_add(*fuel))
    }

    /// Names from `names` (the function names of the module's named copy)
    /// for the sampled functions the module itself left unnamed.
    pub fn name_from(&mut self, names: &BTreeMap<u32, String>) {
        for index in self.stacks.keys().flatten() {
            if let Some(name) = names.get(index) {
                self.names.entry(*index).or_insert_with(|| name.clone());
            }
        }
    }

    /// Whether samples of new stacks went to [`RawProfile::other`] because
    /// [`MAX_PROFILE_STACKS`] were kept.
    pub fn stack_limit_reached(&self) -> bool {
        self.other_samples > 0
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
        self.add(stack, weight);
    }

    /// Charges `weight` fuel to `stack`, or to the other stacks when it is
    /// new and [`MAX_PROFILE_STACKS`] are kept already.
    fn add(&mut self, stack: Vec<u32>, weight: u64) {
        if let Some(fuel) = self.profile.stacks.get_mut(&stack) {
            *fuel = fuel.saturating_add(weight);
        } else if self.profile.stacks.len() < MAX_PROFILE_STACKS {
            self.profile.stacks.insert(stack, weight);
        } else {
            self.profile.other = self.profile.other.saturating_add(weight);
            self.profile.other_samples = self.profile.other_samples.saturating_add(1);
        }
    }

    /// The profile of a call that consumed `consumed` fuel in all.
    pub(super) fn finish(mut self, consumed: u64) -> RawProfile {
        self.profile.tail = consumed.saturating_sub(self.seen);
        self.profile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_stacks_past_the_limit_are_counted_as_other_and_no_fuel_is_lost() {
        let mut sampler = Sampler::new(u64::MAX, 1);
        let mut charged = 0u64;
        for i in 0..(MAX_PROFILE_STACKS as u32 + 100) {
            sampler.add(vec![0, i], u64::from(i % 7) + 1);
            charged += u64::from(i % 7) + 1;
        }
        // A stack that was kept still gets its fuel; a new one goes to other.
        sampler.add(vec![0, 0], 5);
        sampler.add(vec![9, 9, 9], 3);
        charged += 8;
        sampler.seen = charged;
        // Four units after the last sample: the tail.
        let profile = sampler.finish(charged + 4);
        assert_eq!(profile.stacks.len(), MAX_PROFILE_STACKS);
        assert_eq!(profile.stacks[&vec![0, 0]], 1 + 5);
        assert_eq!((profile.other_samples, profile.tail), (101, 4));
        assert!(profile.stack_limit_reached());
        assert_eq!(
            profile.total(),
            charged + 4,
            "every unit is in a kept stack, the other stacks or the tail"
        );
    }
}
