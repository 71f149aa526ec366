//! How a call fails: our failure class with its explanation, and the
//! `WasmPluginRunErrorKind` the consumer's daemon reports for the same
//! failure (docs/host.md, "How a call is built", step 8).

use serde::Serialize;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

use super::engine::Tier;
use super::limits::{LimitHit, Limits};

/// The error kinds of the consumer's daemon (`WasmPluginRunErrorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PalyraErrorKind {
    Disabled,
    InvalidInput,
    CapabilityDenied,
    TimedOut,
    QuotaExceeded,
    RuntimeFailure,
}

impl PalyraErrorKind {
    pub const ALL: [PalyraErrorKind; 6] = [
        PalyraErrorKind::Disabled,
        PalyraErrorKind::InvalidInput,
        PalyraErrorKind::CapabilityDenied,
        PalyraErrorKind::TimedOut,
        PalyraErrorKind::QuotaExceeded,
        PalyraErrorKind::RuntimeFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PalyraErrorKind::Disabled => "disabled",
            PalyraErrorKind::InvalidInput => "invalid_input",
            PalyraErrorKind::CapabilityDenied => "capability_denied",
            PalyraErrorKind::TimedOut => "timed_out",
            PalyraErrorKind::QuotaExceeded => "quota_exceeded",
            PalyraErrorKind::RuntimeFailure => "runtime_failure",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    TimedOut,
    OutOfFuel,
    MemoryLimit,
    TableLimit,
    StackExhausted,
    Trap,
    LinkError,
    MissingEntrypoint,
    OutputTooLarge,
    OutputNotJson,
    InvalidInput,
    OutputSchema,
    NonzeroExit,
    /// The operator has not enabled the WebAssembly runtime.
    Disabled,
    /// A requested capability is not in the operator's and the skill's grants.
    CapabilityDenied,
    /// A requested, allowed or declared capability value fails the daemon's grammar.
    InvalidGrant,
    /// The module is empty or over the operator's `max_module_size_bytes`.
    ModuleTooLarge,
    /// The module does not compile.
    InvalidModule,
}

impl FailureClass {
    pub const ALL: [FailureClass; 18] = [
        FailureClass::TimedOut,
        FailureClass::OutOfFuel,
        FailureClass::MemoryLimit,
        FailureClass::TableLimit,
        FailureClass::StackExhausted,
        FailureClass::Trap,
        FailureClass::LinkError,
        FailureClass::MissingEntrypoint,
        FailureClass::OutputTooLarge,
        FailureClass::OutputNotJson,
        FailureClass::InvalidInput,
        FailureClass::OutputSchema,
        FailureClass::NonzeroExit,
        FailureClass::Disabled,
        FailureClass::CapabilityDenied,
        FailureClass::InvalidGrant,
        FailureClass::ModuleTooLarge,
        FailureClass::InvalidModule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::TimedOut => "timed_out",
            FailureClass::OutOfFuel => "out_of_fuel",
            FailureClass::MemoryLimit => "memory_limit",
            FailureClass::TableLimit => "table_limit",
            FailureClass::StackExhausted => "stack_exhausted",
            FailureClass::Trap => "trap",
            FailureClass::LinkError => "link_error",
            FailureClass::MissingEntrypoint => "missing_entrypoint",
            FailureClass::OutputTooLarge => "output_too_large",
            FailureClass::OutputNotJson => "output_not_json",
            FailureClass::InvalidInput => "invalid_input",
            FailureClass::OutputSchema => "output_schema",
            FailureClass::NonzeroExit => "nonzero_exit",
            FailureClass::Disabled => "disabled",
            FailureClass::CapabilityDenied => "capability_denied",
            FailureClass::InvalidGrant => "invalid_grant",
            FailureClass::ModuleTooLarge => "module_too_large",
            FailureClass::InvalidModule => "invalid_module",
        }
    }

    /// The daemon's kind for this class when it happens during the call
    /// (instantiation failures are classified by [`classify`]).
    pub fn palyra_kind(self) -> PalyraErrorKind {
        match self {
            FailureClass::TimedOut => PalyraErrorKind::TimedOut,
            FailureClass::OutOfFuel | FailureClass::ModuleTooLarge => PalyraErrorKind::QuotaExceeded,
            FailureClass::LinkError
            | FailureClass::MissingEntrypoint
            | FailureClass::InvalidInput
            | FailureClass::InvalidGrant
            | FailureClass::InvalidModule => PalyraErrorKind::InvalidInput,
            FailureClass::Disabled => PalyraErrorKind::Disabled,
            FailureClass::CapabilityDenied => PalyraErrorKind::CapabilityDenied,
            // A refused memory.grow or table.grow returns -1: whatever
            // the guest does next (usually a trap) is a runtime failure.
            FailureClass::MemoryLimit
            | FailureClass::TableLimit
            | FailureClass::StackExhausted
            | FailureClass::Trap
            | FailureClass::OutputTooLarge
            | FailureClass::OutputNotJson
            | FailureClass::OutputSchema
            | FailureClass::NonzeroExit => PalyraErrorKind::RuntimeFailure,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
    /// What the Palyra daemon reports for this failure.
    pub palyra_error_kind: PalyraErrorKind,
    /// For a limit that ran out: the message without its advice, so a caller
    /// that knows which setting binds can give the right advice instead.
    #[serde(skip)]
    limit_head: Option<String>,
    /// The engine's own words for a failed call (what the daemon puts in
    /// its `execution failed: ...`), when they differ from ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_error: Option<String>,
    /// The call stack when it failed (a trap, or fuel that ran out), and
    /// what it means; its fields sit beside the others in the JSON.
    #[serde(flatten)]
    pub trace: Option<Box<super::stack::Trace>>,
}

impl Failure {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Failure {
        Failure {
            class,
            message: message.into(),
            palyra_error_kind: class.palyra_kind(),
            limit_head: None,
            engine_error: None,
            trace: None,
        }
    }

    /// A limit that ran out: `head` (what happened) then `fix` (generic advice).
    fn limit(class: FailureClass, head: String, fix: &str) -> Failure {
        Failure { message: format!("{head}: {fix}"), limit_head: Some(head), ..Failure::new(class, "") }
    }

    /// Replaces the generic advice of a limit that ran out with `fix`;
    /// other failures are left as they are.
    pub fn set_limit_fix(&mut self, fix: &str) {
        if let Some(head) = &self.limit_head {
            self.message = format!("{head}: {fix}");
        }
    }

    /// The engine's `<wasm function N>` frames named from `symbols` (the
    /// module's named copy): the same indices, since the module is the
    /// copy less its names. The stack is named and explained.
    pub fn name_from(&mut self, symbols: &crate::symbols::Symbols) {
        if let Some(trace) = self.trace.as_mut() {
            trace.explained = super::stack::explain(&mut trace.stack, symbols);
        }
        if symbols.names.is_empty() {
            return;
        }
        for text in [Some(&mut self.message), self.limit_head.as_mut(), self.engine_error.as_mut()]
            .into_iter()
            .flatten()
        {
            *text = crate::named::symbolize(text, &symbols.names);
        }
    }

    fn with_kind(mut self, kind: PalyraErrorKind) -> Failure {
        self.palyra_error_kind = kind;
        self
    }
}

pub(super) fn output_too_large(limits: &Limits) -> Failure {
    Failure::new(
        FailureClass::OutputTooLarge,
        format!(
            "the tool wrote more than {} bytes to stdout (the rest was cut off): write less",
            thousands(limits.max_stdout_bytes as u64)
        ),
    )
}

pub use crate::text::thousands;

/// Why a call runs out of fuel or time, and where to look: an endless loop
/// and a call that merely needs more look the same from outside.
const NEVER_RETURNED: &str = "a loop that never ends, or more work than that allows; `--fuel-profile` on `run` or `test` shows where the fuel went";

pub(super) fn timed_out(timeout_ms: u64) -> Failure {
    Failure::limit(
        FailureClass::TimedOut,
        format!(
            "exceeded the wall clock of {timeout_ms} ms: the call never returned within its time ({NEVER_RETURNED})"
        ),
        "raise `capabilities.quotas.wall_clock_timeout_ms` (the host also caps it at `tool_call.execution_timeout_ms`) or do less per call",
    )
}

pub(super) enum CallError {
    Link(wasmtime::Error),
    Missing(String),
    Other(wasmtime::Error),
}

/// What the daemon's `is_execution_limit_error` sees: no fuel left, an
/// out-of-fuel or allocation trap, or a store limit's message.
fn daemon_quota(error: &wasmtime::Error, text: &str, fuel_left: u64) -> bool {
    fuel_left == 0
        || matches!(error.downcast_ref::<Trap>(), Some(Trap::OutOfFuel | Trap::AllocationTooLarge))
        || text.contains("resource limit exceeded")
        || text.contains("exceeds memory limits")
}

/// An exit code (from `proc_exit`) or the failure the error stands for,
/// with the daemon's kind for it: instantiation failures are
/// `invalid_input` unless they are a time-out or a quota, call failures
/// `runtime_failure` unless they are a time-out or a quota.
pub(super) fn classify(
    error: CallError,
    hit: Option<LimitHit>,
    limits: &Limits,
    report: &RunReport,
    fuel_left: u64,
) -> Result<i32, Failure> {
    let (error, linking) = match error {
        CallError::Missing(message) => return Err(Failure::new(FailureClass::MissingEntrypoint, message)),
        CallError::Link(e) => (e, true),
        CallError::Other(e) => (e, false),
    };
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return Ok(exit.0);
    }
    let text = format!("{error:#}");
    let stack = super::stack::frames_of(&error);
    let kind = if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        PalyraErrorKind::TimedOut
    } else if daemon_quota(&error, &text, fuel_left) {
        PalyraErrorKind::QuotaExceeded
    } else if linking {
        PalyraErrorKind::InvalidInput
    } else {
        PalyraErrorKind::RuntimeFailure
    };
    let trapped = !stack.is_empty();
    ours(error, &text, linking, hit, limits, report, trapped).map_err(|failure| {
        let mut failure = failure.with_kind(kind);
        if !stack.is_empty() {
            failure.trace = Some(Box::new(super::stack::Trace { stack, ..Default::default() }));
        }
        if !failure.message.contains(&text) {
            failure.engine_error = Some(text.clone());
        }
        failure
    })
}

fn ours(
    error: wasmtime::Error,
    text: &str,
    linking: bool,
    hit: Option<LimitHit>,
    limits: &Limits,
    report: &RunReport,
    trapped: bool,
) -> Result<i32, Failure> {
    if text.contains("write beyond capacity") || report.stdout.len() >= limits.max_stdout_bytes {
        return Err(output_too_large(limits));
    }
    match hit {
        Some(LimitHit::Memory { desired }) => {
            return Err(Failure::limit(
                FailureClass::MemoryLimit,
                format!(
                    "memory.grow was refused at the limit: linear memory would grow to {} bytes, over {} bytes",
                    thousands(desired as u64),
                    thousands(limits.max_memory_bytes)
                ),
                "the lesser of `capabilities.quotas.max_memory_bytes` and the operator's `max_memory_bytes` binds: use less memory or raise the quota",
            ));
        }
        Some(LimitHit::Table { desired }) => {
            return Err(Failure::new(
                FailureClass::TableLimit,
                format!(
                    "a table would grow to {} elements, over the host's limit of {}",
                    thousands(desired as u64),
                    thousands(limits.max_table_elements)
                ),
            ));
        }
        None => {}
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return Err(match trap {
            Trap::OutOfFuel => Failure::limit(
                FailureClass::OutOfFuel,
                format!(
                    "out of fuel after {} units: the call never returned within its fuel budget ({NEVER_RETURNED})",
                    thousands(limits.fuel)
                ),
                "raise `capabilities.quotas.fuel_budget` (the host caps it at the operator's `fuel_budget`) or optimize",
            ),
            Trap::Interrupt => timed_out(limits.timeout_ms),
            Trap::StackOverflow => Failure::new(
                FailureClass::StackExhausted,
                "the wasm stack is exhausted (runaway recursion?): recurse less deeply",
            ),
            // The engine's text holds its backtrace; ours shows the stack once.
            other if trapped => Failure::new(FailureClass::Trap, format!("the module trapped: {other}")),
            other => Failure::new(FailureClass::Trap, format!("the module trapped: {other} ({text})")),
        });
    }
    if linking {
        let message = if text.contains("unknown import") {
            format!(
                "{text}: the Palyra host links only the `{}` functions (no WASI); build for `wasm32-unknown-unknown` with the host ABI",
                super::HOST_MODULE
            )
        } else {
            format!("could not instantiate the module: {text}")
        };
        return Err(Failure::new(FailureClass::LinkError, message));
    }
    Err(Failure::new(FailureClass::Trap, format!("the call failed: {text}")))
}

/// What one call did.
#[derive(Clone, Serialize)]
pub struct RunReport {
    pub exit_code: Option<i32>,
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    pub fuel_budget: u64,
    pub fuel_consumed: u64,
    pub peak_memory_bytes: u64,
    pub wall_ms: u64,
    pub failure: Option<Failure>,
    /// The code this report comes from.
    pub tier: Tier,
    /// What quick code did first, when its time-out or stack exhaustion was
    /// run again on optimized code (whose result this report is).
    pub quick_failure: Option<Failure>,
    /// Where the fuel went, for a profiled call.
    #[serde(skip)]
    pub profile: Option<super::profile::RawProfile>,
}

impl RunReport {
    /// Its failures and profile named from `names`, the function names of
    /// the module's named copy.
    pub fn name_from(&mut self, symbols: &crate::symbols::Symbols) {
        for failure in [self.failure.as_mut(), self.quick_failure.as_mut()].into_iter().flatten() {
            failure.name_from(symbols);
        }
        if let Some(profile) = self.profile.as_mut() {
            profile.name_from(&symbols.names);
        }
    }
}

impl std::fmt::Debug for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunReport")
            .field("exit_code", &self.exit_code)
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr_bytes", &self.stderr.len())
            .field("fuel_consumed", &self.fuel_consumed)
            .field("peak_memory_bytes", &self.peak_memory_bytes)
            .field("wall_ms", &self.wall_ms)
            .field("failure", &self.failure)
            .field("tier", &self.tier)
            .field("quick_failure", &self.quick_failure)
            .finish()
    }
}
