//! Fitting a module under the host's caps: whose code and data its bytes
//! are, what the skill's dependencies cost, and what the profile could
//! still change.

pub mod data;
pub mod graph;
pub mod imports;
pub mod profile;
pub mod report;

pub use data::{DataUse, data_use};
pub use graph::Graph;
pub use profile::Profile;
pub use report::{FitReport, fit_report};
