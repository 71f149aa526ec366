//! What changes between two versions of a skill in what it may do and what
//! it is: capabilities, quotas, tools and schemas, modules, dependencies
//! and the signing key. Escalations (more privilege) and breaking changes
//! are flagged so a reviewer or CI can stop on them.

mod compute;
mod model;
mod render;

pub use compute::diff;
pub use model::*;
