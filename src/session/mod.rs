//! One trust session: each artifact judged from its bytes, for `verify`,
//! `registry verify` and the Action. The consumer's steps 1 to 10
//! (signature, integrity, compatibility), then the GitHub build attestation
//! that the run, a trust-store binding or a first-use pin requires, then
//! step 11, publisher trust. A first use's two pins, the key and the
//! repository its attestation came from, are written under one lock of the
//! trust store (docs/verify.md, "Binding a publisher to a repository").
//!
//! [`Session::check`] reads nothing but the artifact and its bundle and
//! takes `&self`, so callers run it on every core. [`Session::decide`]
//! runs one artifact at a time, in order, each under the store's lock and
//! against the store and bindings as they are then: a run's own pins hold
//! for its later artifacts, and a concurrent run's are seen.

mod judge;
mod options;
mod pins;

pub use judge::{Checked, Judged, Session};
pub use options::{Demands, Options, SessionError};
pub use pins::RepositoryPin;
