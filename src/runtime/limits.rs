//! A `ResourceLimiter` with the semantics of the consumer's wasmtime
//! `StoreLimits` (each linear memory and each table against its limit, at
//! most so many instances), recording which limit was hit and the peak
//! linear memory of all memories together.

use serde::Serialize;
use wasmtime::ResourceLimiter;

use crate::manifest::Manifest;

/// Table elements the consumer allows by default (docs/host.md, "The grammar of capability values").
pub const MAX_TABLE_ELEMENTS: u64 = 100_000;
/// Instances per store the consumer allows by default.
pub const MAX_INSTANCES: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Memory { desired: usize },
    Table { desired: usize },
}

#[derive(Debug)]
pub struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    max_instances: usize,
    total_memory: usize,
    pub peak_memory: usize,
    pub hit: Option<LimitHit>,
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Limiter {
    pub fn new(max_memory: u64, max_table_elements: u64, max_instances: u64) -> Limiter {
        Limiter {
            max_memory: clamp(max_memory),
            max_table_elements: clamp(max_table_elements),
            max_instances: clamp(max_instances),
            total_memory: 0,
            peak_memory: 0,
            hit: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // As `StoreLimits`: the quota bounds each memory; a failed grow
        // returns -1 to the guest, it does not trap.
        if desired > self.max_memory {
            self.hit.get_or_insert(LimitHit::Memory { desired });
            return Ok(false);
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.total_memory = self.total_memory.saturating_sub(current).saturating_add(desired);
        self.peak_memory = self.peak_memory.max(self.total_memory);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            self.hit.get_or_insert(LimitHit::Table { desired });
            return Ok(false);
        }
        Ok(maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        self.max_instances
    }
}

/// Captured stdout and stderr are each capped at this by default.
pub const DEFAULT_OUTPUT_CAP: usize = 1024 * 1024;

/// The quotas of one call.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limits {
    pub fuel: u64,
    pub max_memory_bytes: u64,
    pub timeout_ms: u64,
    pub max_table_elements: u64,
    pub max_instances: u64,
    pub max_stdout_bytes: usize,
    pub max_stderr_bytes: usize,
}

impl Limits {
    /// The manifest's quotas, as the consumer applies them.
    pub fn from_manifest(manifest: &Manifest) -> Limits {
        let q = &manifest.capabilities.quotas;
        Limits {
            fuel: q.fuel_budget,
            max_memory_bytes: q.max_memory_bytes,
            timeout_ms: q.wall_clock_timeout_ms,
            max_table_elements: MAX_TABLE_ELEMENTS,
            max_instances: MAX_INSTANCES,
            max_stdout_bytes: DEFAULT_OUTPUT_CAP,
            max_stderr_bytes: DEFAULT_OUTPUT_CAP,
        }
    }
}
