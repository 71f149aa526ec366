//! `audit`: the consumer's security audit, check for check, and our static
//! analysis of every module, with human, JSON and SARIF reports.

pub mod advisories;
pub mod analysis;
mod checks;
mod findings;
mod host_findings;
mod report;
mod sarif;
mod yanked;

pub use advisories::{AdvisoryDb, AdvisoryDbError, MAX_CRATES_PER_LIST, MAX_FINDINGS};
pub use checks::audit;
pub use report::{AuditReport, Check, Feed, Finding, ModuleSummary, Policy, Severity, Status, Subject};
pub use sarif::to_sarif;
