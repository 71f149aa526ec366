//! The wasmtime engines: optimized code configured as the consumer's host
//! (fuel, epochs, stack) and quick code for a fast start; the linker with
//! WASI preview1 and the Palyra host functions; module loading through the
//! cache.

use std::sync::OnceLock;

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Linker, Module, OptLevel};

use super::cache::{CacheOutcome, ModuleCache};
use super::grants::{CapabilityClass, HOST_MODULE};
use super::profile::MAX_PROFILE_FRAMES;
use super::store::State;

/// The wasm stack a guest may use before it traps as "stack exhausted":
/// wasmtime's default, which the consumer's host keeps.
pub const MAX_WASM_STACK: usize = 512 * 1024;

/// Quick code's stack: a fraction of the host's, so that quick code never
/// succeeds where the host's code would exhaust its stack.
pub const QUICK_WASM_STACK: usize = MAX_WASM_STACK / 8;

#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not set up the wasmtime engine: {0}")]
    Engine(String),
    #[error("not a valid WebAssembly module: {0}")]
    Compile(String),
}

/// Which code a guest runs. Both tiers are Cranelift with the consumer's
/// fuel metering and stack limit; fuel is counted while wasm is translated,
/// before any optimization, so both consume the same fuel and give the same
/// results. Only speed, stack use per frame and how the wall clock is kept
/// differ, which is why a time-out or stack exhaustion on quick code is run
/// again on optimized code before it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Cranelift without its optimization passes or epoch checks: compiles
    /// in about two thirds of the time, runs slower.
    Quick,
    /// Cranelift optimizing for speed, with epoch interruption, as the
    /// Palyra host compiles.
    Optimized,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Quick => "quick",
            Tier::Optimized => "optimized",
        }
    }
}

/// What a module is linked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linking {
    /// Only the eight host-capability functions, as the Palyra 0.1.0 host
    /// links: any other import fails instantiation.
    PalyraHost,
    /// The host functions and WASI preview1: our `wasi-json` preview, which
    /// Palyra 0.1.0 cannot run.
    WasiPreview,
}

/// One engine configuration, and its linkers once a run needs them.
pub(super) struct Backend {
    pub(super) engine: Engine,
    host_linker: OnceLock<Result<Linker<State>, std::sync::Arc<wasmtime::Error>>>,
    wasi_linker: OnceLock<Result<Linker<State>, std::sync::Arc<wasmtime::Error>>>,
}

/// The consumer's configuration (fuel, epochs on optimized code, the stack),
/// for `tier`'s code.
fn config(tier: Tier) -> Config {
    let mut config = Config::new();
    config.consume_fuel(true);
    match tier {
        Tier::Optimized => {
            config.epoch_interruption(true).max_wasm_stack(MAX_WASM_STACK);
        }
        // Epoch checks cost quick code a tenth of its compile time; its
        // wall clock is kept by yielding on fuel instead (see `exec`).
        // Its frames may be smaller than optimized code's (1.7x smaller
        // for a plain recursion, measured against the consumer's own
        // runtime), so it gets an eighth of the stack: a call that
        // fits there fits the host's stack too, and one that does not is
        // confirmed on optimized code.
        Tier::Quick => {
            config.cranelift_opt_level(OptLevel::None).max_wasm_stack(QUICK_WASM_STACK);
        }
    }
    config
}

impl Backend {
    fn new(tier: Tier) -> Result<Backend, RuntimeError> {
        Backend::with(&config(tier))
    }

    /// Optimized code whose backtraces keep [`MAX_PROFILE_FRAMES`] frames
    /// (wasmtime keeps 20 by default): the engine of fuel profiles. Its
    /// own engine, so the epoch ticks that take samples reach no other
    /// call.
    fn profiling() -> Result<Backend, RuntimeError> {
        let mut config = config(Tier::Optimized);
        config.wasm_backtrace_max_frames(std::num::NonZeroUsize::new(MAX_PROFILE_FRAMES));
        Backend::with(&config)
    }

    fn with(config: &Config) -> Result<Backend, RuntimeError> {
        let engine = Engine::new(config).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        Ok(Backend { engine, host_linker: OnceLock::new(), wasi_linker: OnceLock::new() })
    }

    /// The linker for `linking`, built for this engine on first use.
    pub(super) fn linker(&self, linking: Linking) -> Result<&Linker<State>, RuntimeError> {
        let cell = match linking {
            Linking::PalyraHost => &self.host_linker,
            Linking::WasiPreview => &self.wasi_linker,
        };
        cell.get_or_init(|| link(&self.engine, linking).map_err(std::sync::Arc::new))
            .as_ref()
            .map_err(|e| RuntimeError::Engine(e.to_string()))
    }
}

fn link(engine: &Engine, linking: Linking) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    if linking == Linking::WasiPreview {
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut State| &mut state.wasi)?;
    }
    for class in CapabilityClass::ALL {
        linker.func_wrap(
            HOST_MODULE,
            &format!("{}-count", class.prefix()),
            move |caller: wasmtime::Caller<'_, State>| caller.data().grants.count(class),
        )?;
        linker.func_wrap(
            HOST_MODULE,
            &format!("{}-handle", class.prefix()),
            move |caller: wasmtime::Caller<'_, State>, index: i32| caller.data().grants.handle(class, index),
        )?;
    }
    Ok(linker)
}

pub struct Runtime {
    quick: Backend,
    optimized: Backend,
    /// Built by the first profiled call.
    profiling: OnceLock<Result<Backend, RuntimeError>>,
    cache: Option<ModuleCache>,
}

/// A module compiled for this runtime: quick code, optimized code, or
/// both once a run has needed the optimized code to confirm a failure.
pub struct LoadedModule {
    wasm: Vec<u8>,
    sha256: [u8; 32],
    quick: OnceLock<Module>,
    optimized: OnceLock<Module>,
    profiled: OnceLock<Module>,
    /// What the cache did when the module was loaded.
    pub cache: CacheOutcome,
}

impl LoadedModule {
    /// The code runs start on: optimized code once there is some.
    pub fn tier(&self) -> Tier {
        if self.optimized.get().is_some() { Tier::Optimized } else { Tier::Quick }
    }
}

impl Runtime {
    pub fn new(cache: Option<ModuleCache>) -> Result<Runtime, RuntimeError> {
        Ok(Runtime {
            quick: Backend::new(Tier::Quick)?,
            optimized: Backend::new(Tier::Optimized)?,
            profiling: OnceLock::new(),
            cache,
        })
    }

    pub(super) fn backend(&self, tier: Tier) -> &Backend {
        match tier {
            Tier::Quick => &self.quick,
            Tier::Optimized => &self.optimized,
        }
    }

    /// The engine that compiles `tier`'s code.
    pub fn engine(&self, tier: Tier) -> &Engine {
        &self.backend(tier).engine
    }

    /// Loads `wasm` for running: optimized code if the cache holds it, else
    /// `tier`'s code from the cache, else compiles `tier`'s code (and
    /// caches it). Pass [`Tier::Quick`] for the fastest start.
    pub fn load_module(&self, wasm: &[u8], tier: Tier) -> Result<LoadedModule, RuntimeError> {
        let sha256: [u8; 32] = Sha256::digest(wasm).into();
        let mut loaded = LoadedModule {
            wasm: wasm.to_vec(),
            sha256,
            quick: OnceLock::new(),
            optimized: OnceLock::new(),
            profiled: OnceLock::new(),
            cache: CacheOutcome::Disabled,
        };
        let (optimized, stale) = self.cached(self.engine(Tier::Optimized), &sha256);
        if let Some(module) = optimized {
            let _ = loaded.optimized.set(module);
            loaded.cache = CacheOutcome::Hit;
            return Ok(loaded);
        }
        if tier == Tier::Optimized {
            let _ = loaded.optimized.set(self.compile(self.engine(Tier::Optimized), wasm, &sha256)?);
            loaded.cache = self.outcome(stale);
            return Ok(loaded);
        }
        // An unusable optimized entry was removed; quick code that the
        // cache holds is still a hit.
        let (quick, quick_stale) = self.cached(self.engine(Tier::Quick), &sha256);
        loaded.cache = match quick {
            Some(module) => {
                let _ = loaded.quick.set(module);
                CacheOutcome::Hit
            }
            None => {
                let _ = loaded.quick.set(self.compile(self.engine(Tier::Quick), wasm, &sha256)?);
                self.outcome(quick_stale.or(stale))
            }
        };
        Ok(loaded)
    }

    /// The module's code for `tier`: loaded already, else from the cache,
    /// else compiled now (and cached).
    pub fn code<'m>(&self, loaded: &'m LoadedModule, tier: Tier) -> Result<&'m Module, RuntimeError> {
        let cell = match tier {
            Tier::Quick => &loaded.quick,
            Tier::Optimized => &loaded.optimized,
        };
        if let Some(module) = cell.get() {
            return Ok(module);
        }
        let module = self.cached_or_compiled(self.engine(tier), loaded)?;
        Ok(cell.get_or_init(|| module))
    }

    /// The profiling engine and the module's code for it (optimized code:
    /// the cache's entry for optimized code serves it).
    pub(super) fn profiling<'m>(
        &self,
        loaded: &'m LoadedModule,
    ) -> Result<(&Backend, &'m Module), RuntimeError> {
        let backend = self.profiling.get_or_init(Backend::profiling).as_ref().map_err(Clone::clone)?;
        if let Some(module) = loaded.profiled.get() {
            return Ok((backend, module));
        }
        let module = self.cached_or_compiled(&backend.engine, loaded)?;
        Ok((backend, loaded.profiled.get_or_init(|| module)))
    }

    fn cached_or_compiled(&self, engine: &Engine, loaded: &LoadedModule) -> Result<Module, RuntimeError> {
        match self.cached(engine, &loaded.sha256) {
            (Some(module), _) => Ok(module),
            (None, _) => self.compile(engine, &loaded.wasm, &loaded.sha256),
        }
    }

    fn outcome(&self, stale: Option<String>) -> CacheOutcome {
        match (&self.cache, stale) {
            (None, _) => CacheOutcome::Disabled,
            (Some(_), Some(reason)) => CacheOutcome::Replaced(reason),
            (Some(_), None) => CacheOutcome::Miss,
        }
    }

    /// Verified compiled code for `engine` from the cache, or why an entry
    /// that was there could not be used (it is removed).
    fn cached(&self, engine: &Engine, sha256: &[u8; 32]) -> (Option<Module>, Option<String>) {
        let Some(cache) = &self.cache else {
            return (None, None);
        };
        let entry = cache.entry(engine, sha256);
        let reason = match cache.load(&entry) {
            Ok(Some(body)) => match deserialize(engine, &body) {
                Ok(module) => return (Some(module), None),
                Err(e) => format!("wasmtime refused it: {e}"),
            },
            Ok(None) => return (None, None),
            Err(rejected) => rejected.to_string(),
        };
        let _ = std::fs::remove_file(&entry.path);
        (None, Some(reason))
    }

    /// Compiles the code for `engine` and stores it in the cache.
    fn compile(&self, engine: &Engine, wasm: &[u8], sha256: &[u8; 32]) -> Result<Module, RuntimeError> {
        let module = Module::new(engine, wasm).map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
        if let Some(cache) = &self.cache {
            // A cache that cannot be written only costs the next run a compile.
            if let Ok(body) = module.serialize() {
                let _ = cache.store(&cache.entry(engine, sha256), &body);
            }
        }
        Ok(module)
    }
}

/// Loads compiled code that [`ModuleCache::load`] has verified against the
/// SHA-256 we wrote beside it, in a directory only this user can write.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, body: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: wasmtime requires the bytes to come from `Module::serialize`
    // of a compatible engine. They were written by `serialize` under a key
    // that includes this engine's compatibility hash and wasmtime's version,
    // and their checksum was verified just before this call, so they are
    // exactly the bytes we produced; wasmtime also re-checks compatibility.
    unsafe { Module::deserialize(engine, body) }
}
