//! The static registry: a directory of artifacts and the signed `index.json`
//! the consumer reads over https (docs/format.md, "A static registry").
//!
//! `publish` adds one verified artifact and re-signs the index under a lock;
//! `verify_registry` checks the index signature, every entry against its
//! file, every artifact, and that no artifact is left out of the index.

mod check;
mod index;
mod publish;

pub use check::*;
pub use index::*;
pub use publish::*;
