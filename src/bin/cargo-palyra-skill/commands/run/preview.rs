//! `run --abi wasi-json`: the WASI preview, a tool called with JSON on stdin
//! that answers JSON on stdout (an extension Palyra 0.1.0 cannot run).

use super::*;

/// The JSON report of a WASI-preview run.
#[derive(Serialize)]
struct PreviewReport<'a> {
    skill_id: &'a str,
    abi: &'static str,
    tool: &'a str,
    module: &'a str,
    /// What the Palyra daemon would report for this module.
    palyra_error_kind: Option<PalyraErrorKind>,
    #[serde(flatten)]
    outcome: &'a ToolOutcome,
    stderr: String,
    grants: &'a Grants,
    limits: &'a Limits,
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel_profile: Option<&'a ProfileSummary>,
    #[serde(flatten)]
    cache: &'a CacheOutcome,
}

impl Opts {
    fn read_input(&self) -> Result<Value> {
        let text = match (&self.input, &self.input_file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("could not read `{}`", path.display()))?,
            (None, None) => {
                if std::io::stdin().is_terminal() {
                    bail!("no input: pass `--input JSON`, `--input-file FILE`, or pipe the JSON to stdin");
                }
                let mut text = String::new();
                std::io::stdin()
                    .take(64 * 1024 * 1024)
                    .read_to_string(&mut text)
                    .context("could not read stdin")?;
                text
            }
        };
        serde_json::from_str(&text).context("the input is not valid JSON")
    }

    pub(super) fn run_preview(&self, skill: &Skill, shell: &mut Shell) -> Result<Outcome> {
        if self.operator.operator_config.is_some()
            || !self.allow_channel.is_empty()
            || self.entrypoint.is_some()
        {
            bail!(
                "`--operator-config`, `--allow-channel` and `--entrypoint` apply to the Palyra host ABI: the WASI preview runs the manifest's entrypoint with the declared capabilities you allow"
            );
        }
        let input = self.read_input()?;
        let runtime = skill::runtime(self.code.no_cache, shell)?;
        let manifest = &skill.manifest;
        let module_path = skill::pick_module(manifest, &skill.entries, self.module.as_deref())?;
        let module = skill::compile(skill, &module_path, &runtime, self.code.tier(), shell)?;
        let only = match manifest.entrypoints.tools.as_slice() {
            [only] => Some(only.id.as_str()),
            _ => None,
        };
        let tool_id = self.tool.as_deref().or(manifest.operator.plugin.default_tool_id.as_deref()).or(only);
        let Some(tool) = tool_id.and_then(|id| manifest.tool(id)) else {
            let ids: Vec<_> = manifest.entrypoints.tools.iter().map(|t| format!("`{}`", t.id)).collect();
            bail!(
                "`{}` has no tool `{}`: pass `--tool` with one of {}",
                manifest.skill_id,
                tool_id.unwrap_or(""),
                ids.join(", ")
            );
        };
        let allow = Allow {
            http: self.allow_http.clone(),
            secrets: self.allow_secret.clone(),
            storage: self.allow_storage.clone(),
        };
        let (grants, undeclared) = Grants::from_manifest(manifest).narrowed(&allow);
        for item in undeclared {
            shell.warn(format_args!(
                "{item} is not declared in `skill.toml`, so the Palyra host never grants it; not granted"
            ));
        }
        let fs = &manifest.capabilities.filesystem;
        let declares_fs = !fs.read_roots.is_empty() || !fs.write_roots.is_empty();
        let preopens = match (self.grant_fs, declares_fs) {
            (true, true) => skill::preopens(manifest)?,
            (true, false) => {
                shell.note("`--grant-fs` has no effect: the manifest declares no filesystem roots");
                Vec::new()
            }
            (false, true) => {
                shell.note("the declared filesystem roots are not granted for this run: pass `--grant-fs`");
                Vec::new()
            }
            (false, false) => Vec::new(),
        };
        for preopen in &preopens {
            shell.verbose(
                "Preopen",
                format_args!(
                    "`{}` at `{}`{}",
                    preopen.host.display(),
                    preopen.guest,
                    if preopen.writable { "" } else { " (read-only)" }
                ),
            );
        }
        let mut limits = Limits::from_manifest(manifest);
        limits.fuel = self.fuel.unwrap_or(limits.fuel);
        limits.max_memory_bytes = self.max_memory.unwrap_or(limits.max_memory_bytes);
        limits.timeout_ms = self.timeout_ms.unwrap_or(limits.timeout_ms);

        let wasm = &skill.entries.get(&module_path).context("no such module")?.bytes;
        let problems = host::link_problems(wasm);
        let palyra_error_kind = (!problems.is_empty()).then_some(PalyraErrorKind::InvalidInput);
        let mut notes = vec![
            "WASI JSON preview (`abi = \"wasi-json\"`): an extension of this tool that Palyra 0.1.0 cannot run".to_owned(),
        ];
        if let Some(first) = problems.first() {
            notes.push(format!(
                "in Palyra 0.1.0 every call fails as `invalid_input`: the host cannot link `{}` ({} such imports)",
                first.import,
                problems.len()
            ));
        }
        shell.status("Running", format_args!("{} ({} {})", tool.id, manifest.skill_id, manifest.version));
        let mut outcome = runtime.call_tool(ToolCall {
            manifest,
            tool,
            module: &module,
            input: &input,
            grants: grants.clone(),
            limits,
            preopens,
            profile: self.fuel_profile.as_ref().map(|_| self.fuel_profile_interval.unwrap_or(0)),
        });
        outcome.report.name_from(&skill.symbols(&module_path));
        let report = &outcome.report;
        let profile = match (&self.fuel_profile, &report.profile) {
            (Some(svg), Some(raw)) => Some(cargo_palyra_skill::profile::write(
                raw,
                svg,
                &format!("{} {}", manifest.skill_id, tool.id),
            )?),
            _ => None,
        };
        let stderr = String::from_utf8_lossy(&report.stderr).into_owned();
        if report.failure.as_ref().is_some_and(|f| f.class == FailureClass::InvalidInput) {
            bail!("{}", report.failure.as_ref().map(|f| f.message.as_str()).unwrap_or_default());
        }
        match self.output.message_format {
            MessageFormat::Json => self.emit_json(
                shell,
                &PreviewReport {
                    skill_id: &manifest.skill_id,
                    abi: Abi::WasiJson.as_str(),
                    tool: &tool.id,
                    module: &module_path,
                    palyra_error_kind,
                    outcome: &outcome,
                    stderr,
                    grants: &grants,
                    limits: &limits,
                    notes: &notes,
                    fuel_profile: profile.as_ref(),
                    cache: &module.cache,
                },
            )?,
            MessageFormat::Human => {
                if let Some(output) = &outcome.output {
                    shell.print(serde_json::to_string_pretty(output)?)?;
                }
                if !stderr.is_empty() {
                    shell.status("Log", "the tool's stderr:");
                    shell.block(&stderr);
                }
                for note in &notes {
                    shell.note(note);
                }
                let handles: Vec<String> =
                    [("http", &grants.http), ("secret", &grants.secrets), ("storage", &grants.storage)]
                        .iter()
                        .filter(|(_, items)| !items.is_empty())
                        .map(|(class, items)| format!("{class}: {}", items.join(", ")))
                        .collect();
                let summary = format!(
                    "exit {}, fuel {} of {}, peak memory {}, {} ms; granted {}",
                    report.exit_code.map_or("none".to_owned(), |c| c.to_string()),
                    report.fuel_consumed,
                    report.fuel_budget,
                    human_size(report.peak_memory_bytes),
                    report.wall_ms,
                    if handles.is_empty() { "nothing".to_owned() } else { handles.join("; ") }
                );
                if let Some(first) = &report.quick_failure {
                    shell.note(format_args!(
                        "quick code {}; this is the result of running again on optimized code, as the host compiles it",
                        first.class.as_str()
                    ));
                }
                match &report.failure {
                    None => shell.status("Finished", summary),
                    Some(failure) => {
                        shell.status_failed(
                            "Failed",
                            format_args!("{}: {}", failure.class.as_str(), failure.message),
                        );
                        let stack = crate::failure_out::stack_lines(failure, "             ");
                        if !stack.is_empty() {
                            shell.block(&(stack.join("\n") + "\n"));
                        }
                        shell.status_failed("Finished", summary);
                    }
                }
                if let Some(summary) = &profile {
                    profile_out::show(shell, summary, "  ");
                }
            }
        }
        Ok(if report.failure.is_some() { Outcome::CheckFailed } else { Outcome::Success })
    }
}
