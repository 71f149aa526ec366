//! A tool call as the data plane defines it (docs/abi.md): input
//! checked against `input_schema`, the call, stdout parsed as the JSON
//! output and checked against `output_schema`.

use super::engine::Linking;
use super::engine::{LoadedModule, Runtime};
use super::exec::RunRequest;
use super::failure::{Failure, FailureClass, RunReport};
use super::grants::Grants;
use super::limits::Limits;
use super::schema::check_instance;
use super::state::Preopen;
use crate::manifest::{Manifest, Tool};
use serde::Serialize;
use serde_json::Value;

pub struct ToolCall<'a> {
    pub manifest: &'a Manifest,
    pub tool: &'a Tool,
    pub module: &'a LoadedModule,
    pub input: &'a Value,
    pub grants: Grants,
    pub limits: Limits,
    pub preopens: Vec<Preopen>,
    /// Profile the call's fuel (see [`RunRequest::profile`]).
    pub profile: Option<u64>,
}

/// The call's report and, when it succeeded, its output document.
#[derive(Debug, Clone, Serialize)]
pub struct ToolOutcome {
    #[serde(flatten)]
    pub report: RunReport,
    pub output: Option<Value>,
}

impl Runtime {
    pub fn call_tool(&self, call: ToolCall) -> ToolOutcome {
        let skipped = |failure: Failure| ToolOutcome {
            report: RunReport {
                exit_code: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
                fuel_budget: call.limits.fuel,
                fuel_consumed: 0,
                peak_memory_bytes: 0,
                wall_ms: 0,
                failure: Some(failure),
                tier: call.module.tier(),
                quick_failure: None,
                profile: None,
            },
            output: None,
        };
        if let Err(error) = check_instance(&call.tool.input_schema, call.input, "input") {
            return skipped(Failure::new(FailureClass::InvalidInput, error.to_string()));
        }
        let manifest = call.manifest;
        let mut report = self.run(RunRequest {
            module: call.module,
            entrypoint: manifest.entrypoint(),
            linking: Linking::WasiPreview,
            stdin: call.input.to_string().into_bytes(),
            env: vec![
                ("PALYRA_TOOL_ID".into(), call.tool.id.trim().into()),
                ("PALYRA_SKILL_ID".into(), manifest.skill_id.trim().into()),
                ("PALYRA_SKILL_VERSION".into(), manifest.version.trim().into()),
            ],
            program: manifest.skill_id.trim().into(),
            grants: call.grants,
            limits: call.limits,
            preopens: call.preopens,
            profile: call.profile,
        });
        if report.failure.is_some() {
            return ToolOutcome { report, output: None };
        }
        if report.exit_code != Some(0) {
            let code = report.exit_code.unwrap_or_default();
            report.failure = Some(Failure::new(
                FailureClass::NonzeroExit,
                format!("the tool exited with code {code} (its stderr may say why)"),
            ));
            return ToolOutcome { report, output: None };
        }
        let output = match serde_json::from_slice::<Value>(&report.stdout) {
            Ok(output) => output,
            Err(e) => {
                let hint = if report.stdout.is_empty() {
                    "stdout is empty: write the output JSON and flush stdout before returning"
                } else {
                    "stdout must hold exactly one JSON document"
                };
                report.failure = Some(Failure::new(
                    FailureClass::OutputNotJson,
                    format!("the output is not JSON ({e}): {hint}"),
                ));
                return ToolOutcome { report, output: None };
            }
        };
        if let Err(error) = check_instance(&call.tool.output_schema, &output, "output") {
            report.failure = Some(Failure::new(FailureClass::OutputSchema, error.to_string()));
            return ToolOutcome { report, output: Some(output) };
        }
        ToolOutcome { report, output: Some(output) }
    }
}
