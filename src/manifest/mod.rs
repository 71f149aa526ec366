//! `skill.toml`: the consumer's manifest schema, strict parsing, every
//! validation rule of docs/manifest.md, and the consumer's non-fatal warnings.

mod model;
mod parse;
mod rules;

pub use model::*;
pub use parse::*;
pub use rules::{is_identifier, is_skill_id, normalize_host};
