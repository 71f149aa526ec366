//! The one sandbox runtime `run`, `test` and `audit` share: wasmtime with
//! the Palyra host ABI v1 linked as the consumer's host links it (or, for
//! the `wasi-json` preview, with WASI preview1 deny-by-default), the consumer's
//! limits, failure classification, and a verified on-disk module cache.

mod cache;
mod engine;
mod exec;
mod failure;
mod grants;
mod limits;
mod profile;
mod schema;
mod stack;
mod state;
mod store;
mod tool;

pub use cache::{CacheEntry, CacheKey, CacheOutcome, ModuleCache};
pub use engine::{Linking, LoadedModule, MAX_WASM_STACK, Runtime, RuntimeError, Tier};
pub use exec::RunRequest;
pub use failure::{Failure, FailureClass, PalyraErrorKind, RunReport, thousands};
pub use grants::{Allow, CapabilityClass, Grants, HOST_MODULE};
pub use limits::{DEFAULT_OUTPUT_CAP, Limits, MAX_INSTANCES, MAX_TABLE_ELEMENTS};
pub use profile::{
    DEFAULT_PROFILE_INTERVAL, MAX_PROFILE_FRAMES, MAX_PROFILE_STACKS, PROFILE_SAMPLES, RawProfile,
};
pub use schema::{SchemaError, check_instance};
pub use stack::{Explained, Frame, Trace, explain};
pub use state::{Preopen, StateError, open_roots};
pub use tool::{ToolCall, ToolOutcome};
