//! The one sandbox runtime `run`, `test` and `audit` share: wasmtime with
//! the Palyra host ABI v1, WASI preview1 deny-by-default, the consumer's
//! limits, failure classification, and a verified on-disk module cache.

mod cache;
mod engine;
mod exec;
mod grants;
mod limits;
mod schema;
mod tool;

pub use cache::{CacheOutcome, ModuleCache};
pub use engine::{LoadedModule, Runtime, RuntimeError, Tier};
pub use exec::{Failure, FailureClass, Limits, Preopen, RunReport, RunRequest};
pub use grants::{Allow, CapabilityClass, Grants, HOST_MODULE};
pub use schema::{SchemaError, check_instance};
pub use tool::{ToolCall, ToolOutcome};
