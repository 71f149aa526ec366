//! What a store carries for one call: the WASI context (preview only), the
//! resource limiter, and the capability grants the host functions read.

use wasmtime_wasi::p1::WasiP1Ctx;

use super::grants::Grants;
use super::limits::Limiter;

pub(super) struct State {
    pub(super) wasi: WasiP1Ctx,
    pub(super) limiter: Limiter,
    pub(super) grants: Grants,
}
