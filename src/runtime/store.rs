//! What a store carries for one call: the WASI context (preview only), the
//! resource limiter, and the capability grants the host functions read.

use wasmtime_wasi::p1::WasiP1Ctx;

use super::grants::Grants;
use super::limits::Limiter;
use super::profile::Sampler;

pub(super) struct State {
    pub(super) wasi: WasiP1Ctx,
    pub(super) limiter: Limiter,
    pub(super) grants: Grants,
    /// Set on a profiled call.
    pub(super) sampler: Option<Sampler>,
}
