//! The Palyra 0.1.0 daemon's `execute_module`, reproduced for local runs,
//! tests and audits (docs/host.md): the operator's configuration, the grammar
//! of capability values, which module and entrypoint run, the grants
//! (operator ∩ skill, requested ⊆ allowed), the limits (the lesser of the
//! manifest's and the operator's), and the daemon's error kinds.

mod call;
mod grammar;
mod operator;
mod plan;

pub use call::{
    Budget, Budgeted, HostCall, HostOutcome, LimitSource, LimitSources, LinkProblem, Overrides, execute,
    limit_sources, limits, link_problems,
};
pub use grammar::{config_identifier, host_name, storage_prefix};
pub use operator::{OperatorConfig, OperatorConfigError, PLUGIN_RUN_TOOL};
pub use plan::{
    Authorized, HookDecision, Requested, SkillGrants, authorize, contract_allowed_classes, select_entrypoint,
    select_module, select_tool, skill_grant_errors,
};

use crate::runtime::FailureClass;
pub use crate::runtime::PalyraErrorKind;

/// A refusal as the daemon words it (`WasmPluginRunError`), with our class
/// for it and what to change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostError {
    pub kind: PalyraErrorKind,
    pub message: String,
    pub class: FailureClass,
    pub fix: String,
}

impl HostError {
    /// The daemon's kind follows from our class.
    pub fn new(class: FailureClass, message: impl Into<String>, fix: impl Into<String>) -> HostError {
        HostError { kind: class.palyra_kind(), message: message.into(), class, fix: fix.into() }
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}
