//! A `ResourceLimiter` that enforces the memory and table quotas and
//! records which limit was hit and the peak linear memory.

use wasmtime::ResourceLimiter;

/// Table elements the consumer allows (RUNTIME.md section 1).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Instances per store the consumer allows.
pub const MAX_INSTANCES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Memory { desired: usize },
    Table { desired: usize },
}

#[derive(Debug)]
pub struct Limiter {
    max_memory: usize,
    total_memory: usize,
    pub peak_memory: usize,
    pub hit: Option<LimitHit>,
}

impl Limiter {
    pub fn new(max_memory: u64) -> Limiter {
        Limiter {
            max_memory: usize::try_from(max_memory).unwrap_or(usize::MAX),
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
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The quota covers all linear memories of the instance together.
        let total = self.total_memory.saturating_sub(current).saturating_add(desired);
        if total > self.max_memory {
            self.hit.get_or_insert(LimitHit::Memory { desired: total });
            return Ok(false);
        }
        self.total_memory = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit.get_or_insert(LimitHit::Table { desired });
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}
