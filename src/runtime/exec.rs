//! One call of a module's entrypoint in a fresh store and instance, under
//! fuel, memory, table, stack and wall-clock limits, with every failure
//! classified and explained.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use wasmtime::{Module, Store, UpdateDeadline, WasmBacktrace};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtxBuilder};

use super::engine::{Backend, Linking, LoadedModule, Runtime, RuntimeError, Tier};
use super::failure::{CallError, Failure, FailureClass, RunReport, classify, output_too_large, timed_out};
use super::grants::Grants;
use super::limits::{Limiter, Limits};
use super::profile::{DEFAULT_PROFILE_INTERVAL, PROFILE_SAMPLES, Sampler};
use super::state::Preopen;
use super::store::State;

/// Quick code yields to the async runtime (and its wall-clock timeout)
/// after this much fuel: a fraction of a millisecond of compute.
const QUICK_YIELD_FUEL: u64 = 100_000;

pub struct RunRequest<'a> {
    pub module: &'a LoadedModule,
    /// The export to call: `() -> i32`, or (WASI preview only) `_start`
    /// for a command module.
    pub entrypoint: &'a str,
    /// The Palyra host's imports only, or the WASI preview's.
    pub linking: Linking,
    pub stdin: Vec<u8>,
    pub env: Vec<(String, String)>,
    pub program: String,
    pub grants: Grants,
    pub limits: Limits,
    pub preopens: Vec<Preopen>,
    /// Profile the call's fuel, sampling every this many units (0: about
    /// [`PROFILE_SAMPLES`] samples in all): the call then runs on optimized
    /// code, with the samples in the report.
    pub profile: Option<u64>,
}

impl Runtime {
    /// Calls the entrypoint once in a fresh store. Never panics on guest
    /// behaviour; every outcome is a [`RunReport`].
    ///
    /// Quick code runs slower and may use more stack than the host's
    /// optimized code, so a time-out or stack exhaustion on quick code is
    /// run again, once, on optimized code, and that result is reported. A
    /// run that may write state (a writable directory) runs on optimized
    /// code from the start instead, since a second run would see the first
    /// one's writes.
    pub fn run(&self, request: RunRequest) -> RunReport {
        if let Some(interval) = request.profile {
            // The engine and the module's code for it are made once: later
            // calls of `profiling` return them.
            let prepared = || self.profiling(request.module);
            let writes_state = request.preopens.iter().any(|p| p.writable);
            // The interval for about `PROFILE_SAMPLES` samples comes from an
            // unprofiled call first (fuel is deterministic): unless the
            // call writes state, which a second call would see.
            let (interval, unprofiled) = match interval {
                0 if !writes_state => {
                    let plain = self.run_in(Tier::Optimized, prepared(), &request, None);
                    ((plain.fuel_consumed / PROFILE_SAMPLES).max(1), Some(plain.fuel_consumed))
                }
                0 => (DEFAULT_PROFILE_INTERVAL, None),
                n => (n, None),
            };
            let mut report = self.run_in(Tier::Optimized, prepared(), &request, Some(interval));
            if let Some(profile) = report.profile.as_mut() {
                profile.unprofiled_fuel = unprofiled;
            }
            return report;
        }
        let writes_state = request.preopens.iter().any(|p| p.writable);
        let mut tier = request.module.tier();
        if tier == Tier::Quick && writes_state && self.code(request.module, Tier::Optimized).is_ok() {
            tier = Tier::Optimized;
        }
        let report = self.run_on(tier, &request);
        let speed_bound = report
            .failure
            .as_ref()
            .is_some_and(|f| matches!(f.class, FailureClass::TimedOut | FailureClass::StackExhausted));
        if tier == Tier::Quick && speed_bound && self.code(request.module, Tier::Optimized).is_ok() {
            let mut confirmed = self.run_on(Tier::Optimized, &request);
            confirmed.quick_failure = report.failure;
            return confirmed;
        }
        report
    }

    /// Calls the entrypoint once on exactly `tier`'s code (compiled now if
    /// the module has none yet), with no confirmation run.
    pub fn run_on(&self, tier: Tier, request: &RunRequest) -> RunReport {
        let prepared = self.code(request.module, tier).map(|module| (self.backend(tier), module));
        self.run_in(tier, prepared, request, None)
    }

    /// Calls the entrypoint once with `prepared`'s engine and code,
    /// sampling the stack every `profile` units of fuel when set.
    fn run_in(
        &self,
        tier: Tier,
        prepared: Result<(&Backend, &Module), RuntimeError>,
        request: &RunRequest,
        profile: Option<u64>,
    ) -> RunReport {
        let limits = request.limits;
        let stdout = MemoryOutputPipe::new(limits.max_stdout_bytes);
        let stderr = MemoryOutputPipe::new(limits.max_stderr_bytes);
        let mut report = RunReport {
            exit_code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            fuel_budget: limits.fuel,
            fuel_consumed: 0,
            peak_memory_bytes: 0,
            wall_ms: 0,
            failure: None,
            tier,
            quick_failure: None,
            profile: None,
        };

        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(MemoryInputPipe::new(request.stdin.clone())).stdout(stdout.clone()).stderr(stderr.clone());
        wasi.arg(&request.program);
        for (key, value) in &request.env {
            wasi.env(key, value);
        }
        for preopen in &request.preopens {
            let (dir, file) = if preopen.writable {
                (DirPerms::READ | DirPerms::MUTATE, FilePerms::READ | FilePerms::WRITE)
            } else {
                (DirPerms::READ, FilePerms::READ)
            };
            if let Err(e) = wasi.preopened_dir(preopen.fd_path(), &preopen.guest, dir, file) {
                report.failure = Some(Failure::new(
                    FailureClass::LinkError,
                    format!("could not open the state directory `{}`: {e}", preopen.host.display()),
                ));
                return report;
            }
        }
        let prepared =
            prepared.and_then(|(backend, module)| Ok((backend, module, backend.linker(request.linking)?)));
        let (backend, module, linker) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                report.failure =
                    Some(Failure::new(FailureClass::Trap, format!("could not prepare the module: {e}")));
                return report;
            }
        };
        // The wall time is the call's, never a compile's.
        let started = Instant::now();
        let state = State {
            wasi: wasi.build_p1(),
            limiter: Limiter::new(limits.max_memory_bytes, limits.max_table_elements, limits.max_instances),
            grants: request.grants.clone(),
            sampler: profile.map(|interval| Sampler::new(limits.fuel, interval)),
        };
        let mut store = Store::new(&backend.engine, state);
        store.limiter(|state| &mut state.limiter);
        let _ = store.set_fuel(limits.fuel);
        let timeout = Duration::from_millis(limits.timeout_ms);
        // Optimized code, as on the host, checks the epoch: the tick ends
        // compute that overruns the wall clock. Quick code has no epoch
        // checks; it yields to the async runtime every `QUICK_YIELD_FUEL`
        // units instead, where the timeout below ends it. That timeout also
        // ends a guest blocked in a host call (such as `poll_oneoff`), which
        // epochs cannot interrupt.
        let ticker = match tier {
            Tier::Optimized => {
                store.set_epoch_deadline(1);
                let expired = Arc::new(AtomicBool::new(false));
                match profile {
                    // Each tick takes a sample, and the time-out's tick ends the call.
                    Some(_) => {
                        let expired = expired.clone();
                        store.epoch_deadline_callback(move |mut context| {
                            if expired.load(Ordering::Acquire) {
                                return Ok(UpdateDeadline::Interrupt);
                            }
                            let fuel_left = context.get_fuel().unwrap_or(0);
                            let trace = WasmBacktrace::capture(&context);
                            if let Some(sampler) = context.data_mut().sampler.as_mut() {
                                sampler.sample(fuel_left, &trace);
                            }
                            Ok(UpdateDeadline::Continue(1))
                        });
                    }
                    None => store.epoch_deadline_trap(),
                }
                // The epoch trap does not store the fuel counter that compiled
                // code keeps in a register, so a loop interrupted by it would
                // report the fuel of its last call. Yielding on fuel stores
                // it every `QUICK_YIELD_FUEL` units (and changes nothing the
                // guest sees): the figure after a time-out is then off by
                // less than that, where it was off by everything.
                let _ = store.fuel_async_yield_interval(Some(profile.unwrap_or(QUICK_YIELD_FUEL)));
                let (cancel, cancelled) = mpsc::channel::<()>();
                let engine = backend.engine.clone();
                let thread = std::thread::spawn(move || {
                    if cancelled.recv_timeout(timeout) == Err(mpsc::RecvTimeoutError::Timeout) {
                        expired.store(true, Ordering::Release);
                        engine.increment_epoch();
                    }
                });
                Some((cancel, thread))
            }
            Tier::Quick => {
                let _ = store.fuel_async_yield_interval(Some(QUICK_YIELD_FUEL));
                None
            }
        };

        let engine = backend.engine.clone();
        let outcome = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(rt) => rt.block_on(async {
                let mut called =
                    std::pin::pin!(call(linker, &mut store, module, request.entrypoint, request.linking));
                // A profiled call yields every `profile` units of fuel: the
                // tick makes its next epoch check take a sample.
                let sampled = std::future::poll_fn(|cx| {
                    let poll = called.as_mut().poll(cx);
                    if poll.is_pending() && profile.is_some() {
                        engine.increment_epoch();
                    }
                    poll
                });
                tokio::time::timeout(timeout, sampled).await
            }),
            Err(e) => Ok(Err(CallError::Other(wasmtime::Error::msg(format!(
                "could not start the async runtime: {e}"
            ))))),
        };
        if let Some((cancel, thread)) = ticker {
            let _ = cancel.send(());
            let _ = thread.join();
        }

        report.wall_ms = wall_ms(started, outcome.is_err());
        report.fuel_consumed = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        report.peak_memory_bytes = store.data().limiter.peak_memory as u64;
        let hit = store.data().limiter.hit;
        report.profile = store.data_mut().sampler.take().map(|sampler| sampler.finish(report.fuel_consumed));
        report.stdout = stdout.contents().to_vec();
        report.stderr = stderr.contents().to_vec();
        match outcome {
            Err(_elapsed) => {
                report.failure = Some(timed_out(limits.timeout_ms));
            }
            // WASI writes are partial once the pipe is full: the guest may
            // never notice, but its output is incomplete.
            Ok(Ok(_)) if report.stdout.len() >= limits.max_stdout_bytes => {
                report.failure = Some(output_too_large(&limits));
            }
            Ok(Ok(code)) => report.exit_code = Some(code),
            Ok(Err(error)) => match classify(error, hit, &limits, &report, store.get_fuel().unwrap_or(0)) {
                Ok(code) => report.exit_code = Some(code),
                Err(failure) => report.failure = Some(failure),
            },
        }
        report
    }
}

/// The call's wall time in whole milliseconds. Wall time cannot be set
/// exactly from outside, so a debug build (the test suite's) takes the
/// figure of a call that finished in time from `__PALYRA_SKILL_TEST_WALL_MS`:
/// the tests hold the time headroom to its exact thresholds that way. A
/// release build always measures, and no build fakes a time-out.
fn wall_ms(started: Instant, timed_out: bool) -> u64 {
    #[cfg(debug_assertions)]
    if !timed_out
        && let Some(ms) = crate::env::string(crate::env::Var::TestWallMs).and_then(|v| v.parse().ok())
    {
        return ms;
    }
    #[cfg(not(debug_assertions))]
    let _ = timed_out;
    started.elapsed().as_millis() as u64
}

async fn call(
    linker: &wasmtime::Linker<State>,
    store: &mut Store<State>,
    module: &Module,
    entrypoint: &str,
    linking: Linking,
) -> Result<i32, CallError> {
    let instance = linker.instantiate_async(&mut *store, module).await.map_err(CallError::Link)?;
    // The host calls the entrypoint and nothing else; `_initialize` and a
    // `_start` command belong to the WASI preview.
    if linking == Linking::WasiPreview
        && let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize")
    {
        init.call_async(&mut *store, ()).await.map_err(CallError::Other)?;
    }
    if let Ok(run) = instance.get_typed_func::<(), i32>(&mut *store, entrypoint) {
        return run.call_async(&mut *store, ()).await.map_err(CallError::Other);
    }
    if linking == Linking::WasiPreview
        && let Ok(start) = instance.get_typed_func::<(), ()>(&mut *store, "_start")
    {
        return start.call_async(&mut *store, ()).await.map(|()| 0).map_err(CallError::Other);
    }
    let found = if instance.get_func(&mut *store, entrypoint).is_some() {
        "with another type"
    } else {
        "not exported"
    };
    Err(CallError::Missing(format!(
        "failed to resolve exported function `{entrypoint}` ({found}): export `{entrypoint}` as `() -> i32` (in Rust: `#[unsafe(no_mangle)] pub extern \"C\" fn {entrypoint}() -> i32`) or set `operator.plugin.default_entrypoint`"
    )))
}
