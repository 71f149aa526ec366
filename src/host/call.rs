//! One call as the daemon's `execute_module` makes it: authorize, compile,
//! link the host functions only, call the entrypoint with no input, and
//! answer with the exit code in the daemon's output JSON or the daemon's
//! error kind.

use serde::Serialize;
use serde_json::{Value, json};

use super::operator::OperatorConfig;
use super::plan::{
    Authorized, HookDecision, Requested, authorize, ensure_enabled, select_entrypoint, select_module,
    select_tool,
};
use super::{HostError, PalyraErrorKind};
use crate::audit::analysis::analyze;
use crate::manifest::Manifest;
use crate::runtime::{
    CacheOutcome, CapabilityClass, Failure, FailureClass, Grants, HOST_MODULE, Limits, Linking, RawProfile,
    RunRequest, Runtime, Tier,
};

/// Limits given on the command line, which replace the computed ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub fuel: Option<u64>,
    pub max_memory_bytes: Option<u64>,
    pub timeout_ms: Option<u64>,
}

/// One call of an installed skill, as a plugin binding makes it: the
/// module, entrypoint and tool as requested, else the manifest's
/// `operator.plugin` defaults, else the only module and `run`.
pub struct HostCall<'a> {
    pub operator: &'a OperatorConfig,
    pub manifest: &'a Manifest,
    /// The artifact's entries that may be modules: path and bytes.
    pub modules: Vec<(&'a str, &'a [u8])>,
    pub module_path: Option<&'a str>,
    pub entrypoint: Option<&'a str>,
    pub tool_id: Option<&'a str>,
    pub requested: &'a Requested,
    pub overrides: Overrides,
    pub tier: Tier,
    /// Profile the call's fuel, sampling every this many units.
    pub profile: Option<u64>,
}

/// What the daemon would answer, and what we measured and why it failed.
#[derive(Debug, Clone, Serialize)]
pub struct HostOutcome {
    /// The module, entrypoint and tool the call resolved to.
    pub module_path: Option<String>,
    pub entrypoint: Option<String>,
    pub tool_id: Option<String>,
    /// The module's exit code; `None` when the call failed.
    pub exit_code: Option<i32>,
    /// The daemon's error kind; `None` on success.
    pub palyra_error_kind: Option<PalyraErrorKind>,
    /// The daemon's error message.
    pub palyra_error: Option<String>,
    /// What a run-lifecycle hook with this exit code decides.
    pub hook_decision: Option<HookDecision>,
    /// The daemon's output JSON for a successful call.
    pub output: Option<Value>,
    /// Our failure class and its explanation.
    pub failure: Option<Failure>,
    /// The capabilities the call got handles for, and what was allowed.
    pub authorized: Option<Authorized>,
    /// The limits the call ran under.
    pub limits: Limits,
    /// Which limits came from the command line instead of the minimums.
    pub overridden: Vec<&'static str>,
    /// Which setting each limit came from (the one that binds).
    pub limit_sources: LimitSources,
    pub fuel_consumed: u64,
    pub peak_memory_bytes: u64,
    pub wall_ms: u64,
    pub tier: Option<Tier>,
    pub quick_failure: Option<Failure>,
    #[serde(skip)]
    pub cache: Option<CacheOutcome>,
    /// Where the fuel went, for a profiled call.
    #[serde(skip)]
    pub profile: Option<RawProfile>,
    /// A call that ran out of fuel, run again with a coarse profile.
    #[serde(skip)]
    pub hot_profile: Option<RawProfile>,
}

/// Where a limit of a call comes from: the cap that binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The skill's own quota in `skill.toml` (the publisher can raise it).
    Manifest,
    /// The operator's palyrad.toml (only the operator can raise it).
    Operator,
    /// A flag of this command (`--fuel`, `--max-memory`, `--timeout-ms`).
    CommandLine,
}

/// The source of each budget limit of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitSources {
    pub fuel: LimitSource,
    pub timeout: LimitSource,
    pub memory: LimitSource,
}

impl LimitSources {
    /// What to change to raise `which` (`fuel`, `timeout` or `memory`), in words.
    pub fn fix(&self, which: Budgeted, manifest_value: u64, operator_value: u64) -> String {
        let (source, quota, operator_key, flag) = match which {
            Budgeted::Fuel => (self.fuel, "fuel_budget", "[tool_call.wasm_runtime] fuel_budget", "--fuel"),
            Budgeted::Timeout => {
                (self.timeout, "wall_clock_timeout_ms", "[tool_call] execution_timeout_ms", "--timeout-ms")
            }
            Budgeted::Memory => {
                (self.memory, "max_memory_bytes", "[tool_call.wasm_runtime] max_memory_bytes", "--max-memory")
            }
        };
        match source {
            LimitSource::Manifest => format!(
                "the skill's own quota binds: raise `capabilities.quotas.{quota} = {manifest_value}` in skill.toml (the operator's `{operator_key}` is {operator_value}, and the host uses the lesser)"
            ),
            LimitSource::Operator => format!(
                "the operator's cap binds: `{operator_key} = {operator_value}` in palyrad.toml (the skill asks for {manifest_value}, and the host uses the lesser); raising the skill's quota changes nothing, so use less, or ask the operator to raise the cap"
            ),
            LimitSource::CommandLine => format!(
                "`{flag}` set on the command line binds: the host would use the lesser of the skill's {manifest_value} and the operator's {operator_value}"
            ),
        }
    }
}

/// The figures of a call that have a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budgeted {
    Fuel,
    Timeout,
    Memory,
}

/// Fuel, wall time and peak linear memory of a call against the limits it ran under.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    pub fuel: crate::headroom::Headroom,
    pub time_ms: crate::headroom::Headroom,
    pub memory_bytes: crate::headroom::Headroom,
}

impl HostOutcome {
    /// Its trap reports and fuel profile named from `names`, the function
    /// names of the called module's named copy (see [`crate::named`]).
    pub fn name_from(&mut self, symbols: &crate::symbols::Symbols) {
        for failure in [self.failure.as_mut(), self.quick_failure.as_mut()].into_iter().flatten() {
            failure.name_from(symbols);
        }
        if let (Some(raw), Some(failure)) = (self.hot_profile.as_mut(), self.failure.as_mut()) {
            raw.name_from(&symbols.names);
            if let Some(top) = crate::profile::FuelProfile::new(raw).top_functions(1).first() {
                let trace = failure.trace.get_or_insert_with(Default::default);
                trace.hottest = Some(format!("{} spent {:.1}% of it", top.name, top.share));
            }
        }
        if symbols.names.is_empty() {
            return;
        }
        if let Some(text) = self.palyra_error.as_mut() {
            *text = crate::named::symbolize(text, &symbols.names);
        }
        if let Some(profile) = self.profile.as_mut() {
            profile.name_from(&symbols.names);
        }
    }

    /// What the call used of each limit; `warn_at` is the crate's `headroom-warn`.
    pub fn budget(&self, warn_at: f64) -> Budget {
        use crate::headroom::Headroom;
        Budget {
            fuel: Headroom::new(self.fuel_consumed, self.limits.fuel, warn_at),
            time_ms: Headroom::new(self.wall_ms, self.limits.timeout_ms, warn_at),
            memory_bytes: Headroom::new(self.peak_memory_bytes, self.limits.max_memory_bytes, warn_at),
        }
    }
}

/// The daemon's limits (docs/host.md, "How a call is built", step 7): the lesser of the
/// manifest's and the operator's fuel and memory, the operator's tables and
/// instances, the lesser of both wall clocks; then the overrides.
pub fn limits(
    operator: &OperatorConfig,
    manifest: &Manifest,
    overrides: Overrides,
) -> (Limits, Vec<&'static str>) {
    let q = &manifest.capabilities.quotas;
    let mut limits = Limits::from_manifest(manifest);
    limits.fuel = q.fuel_budget.min(operator.fuel_budget);
    limits.max_memory_bytes = q.max_memory_bytes.min(operator.max_memory_bytes);
    limits.timeout_ms = q.wall_clock_timeout_ms.min(operator.execution_timeout_ms);
    limits.max_table_elements = operator.max_table_elements;
    limits.max_instances = operator.max_instances;
    let mut overridden = Vec::new();
    for (value, into, name) in [
        (overrides.fuel, &mut limits.fuel, "fuel"),
        (overrides.max_memory_bytes, &mut limits.max_memory_bytes, "max_memory_bytes"),
        (overrides.timeout_ms, &mut limits.timeout_ms, "timeout_ms"),
    ] {
        if let Some(value) = value {
            *into = value;
            overridden.push(name);
        }
    }
    (limits, overridden)
}

/// Which setting binds each limit of [`limits`].
pub fn limit_sources(operator: &OperatorConfig, manifest: &Manifest, overrides: Overrides) -> LimitSources {
    let q = &manifest.capabilities.quotas;
    // A quota equal to the cap is not what stands in the way: raising it
    // alone changes nothing, so the operator's cap is named.
    let source = |flag: Option<u64>, quota: u64, cap: u64| match flag {
        Some(_) => LimitSource::CommandLine,
        None if quota < cap => LimitSource::Manifest,
        None => LimitSource::Operator,
    };
    LimitSources {
        fuel: source(overrides.fuel, q.fuel_budget, operator.fuel_budget),
        timeout: source(overrides.timeout_ms, q.wall_clock_timeout_ms, operator.execution_timeout_ms),
        memory: source(overrides.max_memory_bytes, q.max_memory_bytes, operator.max_memory_bytes),
    }
}

/// Our explanation of a refusal before the module ran.
fn refusal(error: &HostError) -> Failure {
    let mut failure = Failure::new(error.class, error.fix.clone());
    failure.palyra_error_kind = error.kind;
    failure
}

/// The daemon's words for a failure of the call itself.
fn daemon_message(failure: &Failure, entrypoint: &str) -> String {
    match failure.palyra_error_kind {
        PalyraErrorKind::TimedOut => "palyra.plugin.run execution timed out".to_owned(),
        PalyraErrorKind::QuotaExceeded => {
            "palyra.plugin.run execution exceeded wasm runtime quota".to_owned()
        }
        PalyraErrorKind::InvalidInput if failure.class == FailureClass::MissingEntrypoint => {
            format!("palyra.plugin.run missing exported entrypoint '{entrypoint}'")
        }
        PalyraErrorKind::InvalidInput if failure.class == FailureClass::InvalidModule => {
            format!("palyra.plugin.run failed to compile module: {}", failure.message)
        }
        PalyraErrorKind::InvalidInput => {
            format!(
                "palyra.plugin.run module does not satisfy host capability import contract: {}",
                failure.message
            )
        }
        _ => format!(
            "palyra.plugin.run execution failed: {}",
            failure.engine_error.as_deref().unwrap_or(&failure.message)
        ),
    }
}

/// The largest fuel budget a call that ran out of it is profiled again
/// for, to name where the fuel went (tens of milliseconds of quick code).
pub const QUICK_PROFILE_MAX_FUEL: u64 = 50_000_000;

/// Runs one call as the daemon does. Never panics on guest behaviour.
pub fn execute(runtime: &Runtime, call: &HostCall) -> HostOutcome {
    let (limits, overridden) = limits(call.operator, call.manifest, call.overrides);
    let limit_sources = limit_sources(call.operator, call.manifest, call.overrides);
    let mut outcome = HostOutcome {
        module_path: None,
        entrypoint: None,
        tool_id: None,
        exit_code: None,
        palyra_error_kind: None,
        palyra_error: None,
        hook_decision: None,
        output: None,
        failure: None,
        authorized: None,
        limits,
        overridden,
        limit_sources,
        fuel_consumed: 0,
        peak_memory_bytes: 0,
        wall_ms: 0,
        tier: None,
        quick_failure: None,
        cache: None,
        profile: None,
        hot_profile: None,
    };
    let fail = |outcome: &mut HostOutcome, failure: Failure, message: String| {
        outcome.palyra_error_kind = Some(failure.palyra_error_kind);
        outcome.palyra_error = Some(message);
        outcome.failure = Some(failure);
    };
    let plugin = &call.manifest.operator.plugin;
    let chosen = (|| {
        // The daemon refuses a disabled runtime before it looks at the skill.
        ensure_enabled(call.operator)?;
        let tool = select_tool(call.manifest, call.tool_id.or(plugin.default_tool_id.as_deref()))?;
        let paths: Vec<&str> = call.modules.iter().map(|(p, _)| *p).collect();
        let module_path = select_module(&paths, call.module_path.or(plugin.default_module_path.as_deref()))?;
        let entrypoint = select_entrypoint(call.entrypoint.or(plugin.default_entrypoint.as_deref()))?;
        Ok((tool.map(|t| t.id.clone()), module_path, entrypoint))
    })();
    let (tool_id, module_path, entrypoint) = match chosen {
        Ok(chosen) => chosen,
        Err(error) => {
            fail(&mut outcome, refusal(&error), error.message);
            return outcome;
        }
    };
    let wasm = call.modules.iter().find(|(p, _)| *p == module_path).map(|(_, b)| *b).unwrap_or_default();
    outcome.tool_id = tool_id.clone();
    outcome.module_path = Some(module_path.clone());
    outcome.entrypoint = Some(entrypoint.clone());
    let authorized = match authorize(call.operator, call.manifest, wasm.len() as u64, call.requested) {
        Ok(authorized) => authorized,
        Err(error) => {
            fail(&mut outcome, refusal(&error), error.message);
            return outcome;
        }
    };
    let module = match runtime.load_module(wasm, call.tier) {
        Ok(module) => module,
        Err(e) => {
            let failure = Failure::new(
                FailureClass::InvalidModule,
                format!("{e}: rebuild it with `cargo palyra-skill build`"),
            );
            let message = daemon_message(&failure, &entrypoint);
            fail(&mut outcome, failure, message);
            return outcome;
        }
    };
    outcome.cache = Some(module.cache.clone());
    let granted = &authorized.granted;
    let grants = Grants {
        http: granted.http_hosts.clone(),
        secrets: granted.secrets.clone(),
        storage: granted.storage_prefixes.clone(),
        channels: granted.channels.clone(),
    };
    let request = |profile: Option<u64>| RunRequest {
        module: &module,
        entrypoint: &entrypoint,
        linking: Linking::PalyraHost,
        stdin: Vec::new(),
        env: Vec::new(),
        program: call.manifest.skill_id.trim().to_owned(),
        grants: grants.clone(),
        limits,
        preopens: Vec::new(),
        profile,
    };
    let report = runtime.run(request(call.profile));
    // Out of fuel: where did it go? Fuel is deterministic, so one more run
    // with a coarse profile (a thousand samples) shows it, when the budget
    // is small enough for that to be quick.
    if report.failure.as_ref().is_some_and(|f| f.class == FailureClass::OutOfFuel)
        && call.profile.is_none()
        && limits.fuel <= QUICK_PROFILE_MAX_FUEL
    {
        outcome.hot_profile = runtime.run(request(Some((limits.fuel / 1_000).max(1)))).profile;
    }
    outcome.fuel_consumed = report.fuel_consumed;
    outcome.peak_memory_bytes = report.peak_memory_bytes;
    outcome.wall_ms = report.wall_ms;
    outcome.tier = Some(report.tier);
    outcome.quick_failure = report.quick_failure.clone();
    outcome.profile = report.profile.clone();
    let code = match (report.failure, report.exit_code) {
        (Some(mut failure), _) => {
            // Name the cap that binds, not a quota that may not.
            let q = &call.manifest.capabilities.quotas;
            let op = call.operator;
            let binding = match failure.class {
                FailureClass::OutOfFuel => Some((Budgeted::Fuel, q.fuel_budget, op.fuel_budget)),
                FailureClass::TimedOut => {
                    Some((Budgeted::Timeout, q.wall_clock_timeout_ms, op.execution_timeout_ms))
                }
                FailureClass::MemoryLimit => {
                    Some((Budgeted::Memory, q.max_memory_bytes, op.max_memory_bytes))
                }
                _ => None,
            };
            if let Some((which, quota, cap)) = binding {
                failure.set_limit_fix(&limit_sources.fix(which, quota, cap));
            }
            let message = daemon_message(&failure, &entrypoint);
            fail(&mut outcome, failure, message);
            return outcome;
        }
        (None, Some(code)) => code,
        (None, None) => {
            let failure = Failure::new(FailureClass::Trap, "the call ended without an exit code");
            let message = daemon_message(&failure, &entrypoint);
            fail(&mut outcome, failure, message);
            return outcome;
        }
    };
    outcome.exit_code = Some(code);
    outcome.hook_decision = Some(HookDecision::from_exit_code(code));
    outcome.output = Some(json!({
        "exit_code": code,
        "entrypoint": &entrypoint,
        "duration_ms": report.wall_ms,
        "resolved_from": "installed_skill_artifact",
        "skill": {
            "skill_id": call.manifest.skill_id,
            "version": call.manifest.version,
            "module_path": module_path,
            "tool_id": tool_id,
        },
        "capabilities": {
            "http_handles": grants.handles(CapabilityClass::Http),
            "secret_handles_count": granted.secrets.len(),
            "storage_handles": grants.handles(CapabilityClass::Storage),
            "channel_handles": grants.handles(CapabilityClass::Channel),
            "granted_http_hosts": granted.http_hosts,
            "granted_storage_prefixes": granted.storage_prefixes,
            "granted_channels": granted.channels,
        },
    }));
    outcome.authorized = Some(authorized);
    outcome
}

/// An import the Palyra host cannot link, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkProblem {
    /// `module::name`
    pub import: String,
    pub reason: String,
}

/// The imports of `wasm` that the Palyra 0.1.0 host's linker does not
/// define (docs/host.md, "How a call is built"): everything but the eight host functions with
/// their exact types. An unreadable module gives no problems here (the
/// compile step reports it).
pub fn link_problems(wasm: &[u8]) -> Vec<LinkProblem> {
    let facts = analyze(wasm);
    facts
        .imports
        .iter()
        .filter_map(|import| {
            let qualified = format!("{}::{}", import.module, import.name);
            let expected = (import.module == HOST_MODULE)
                .then(|| CapabilityClass::host_function(&import.name).map(|(_, ty)| ty))
                .flatten();
            let reason = match expected {
                Some(ty) if import.ty == ty => return None,
                Some(ty) => format!("imported as {} but the host defines {ty}", import.ty),
                None if import.module == "wasi_snapshot_preview1" => {
                    "WASI: the Palyra 0.1.0 host links no WASI functions".to_owned()
                }
                None if import.module == HOST_MODULE => "the host ABI v1 has no such function".to_owned(),
                None => "the host defines nothing in this module".to_owned(),
            };
            Some(LinkProblem { import: qualified, reason })
        })
        .collect()
}
