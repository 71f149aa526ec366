//! The Palyra 0.1.0 daemon's `execute_module`, reproduced for local runs,
//! tests and audits (HOST.md): the operator's configuration, the grammar
//! of capability values, which module and entrypoint run, the grants
//! (operator ∩ skill, requested ⊆ allowed), the limits (the lesser of the
//! manifest's and the operator's), and the daemon's error kinds.

mod call;
mod grammar;
mod operator;
mod plan;

pub use call::{HostCall, HostOutcome, LinkProblem, Overrides, execute, limits, link_problems};
pub use grammar::{config_identifier, host_name, storage_prefix};
pub use operator::{OperatorConfig, OperatorConfigError, PLUGIN_RUN_TOOL};
pub use plan::{
    Authorized, HookDecision, Requested, SkillGrants, authorize, contract_allowed_classes, select_entrypoint,
    select_module, select_tool, skill_grant_errors,
};

pub use crate::runtime::PalyraErrorKind;

/// A refusal as the daemon words it (`WasmPluginRunError`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HostError {
    pub kind: PalyraErrorKind,
    pub message: String,
}

impl HostError {
    pub fn new(kind: PalyraErrorKind, message: impl Into<String>) -> HostError {
        HostError { kind, message: message.into() }
    }
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}
