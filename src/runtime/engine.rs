//! The wasmtime engine configured as the consumer's host (fuel, epochs,
//! stack), the linker with WASI preview1 and the Palyra host functions, and
//! module loading through the cache.

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Linker, Module};

use super::cache::{CacheOutcome, ModuleCache};
use super::exec::State;
use super::grants::{CapabilityClass, HOST_MODULE};

/// The wasm stack a guest may use before it traps as "stack exhausted".
pub const MAX_WASM_STACK: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not set up the wasmtime engine: {0}")]
    Engine(String),
    #[error("not a valid WebAssembly module: {0}")]
    Compile(String),
}

pub struct Runtime {
    pub(super) engine: Engine,
    pub(super) linker: Linker<State>,
    cache: Option<ModuleCache>,
}

impl Runtime {
    pub fn new(cache: Option<ModuleCache>) -> Result<Runtime, RuntimeError> {
        let mut config = Config::new();
        config.consume_fuel(true).epoch_interruption(true).max_wasm_stack(MAX_WASM_STACK);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut State| &mut state.wasi)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        for class in CapabilityClass::ALL {
            linker
                .func_wrap(
                    HOST_MODULE,
                    &format!("{}-count", class.prefix()),
                    move |caller: wasmtime::Caller<'_, State>| caller.data().grants.count(class),
                )
                .and_then(|l| {
                    l.func_wrap(
                        HOST_MODULE,
                        &format!("{}-handle", class.prefix()),
                        move |caller: wasmtime::Caller<'_, State>, index: i32| {
                            caller.data().grants.handle(class, index)
                        },
                    )
                })
                .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        }
        Ok(Runtime { engine, linker, cache })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `wasm`, or loads its verified compiled code from the cache.
    pub fn load_module(&self, wasm: &[u8]) -> Result<(Module, CacheOutcome), RuntimeError> {
        let compile = || Module::new(&self.engine, wasm).map_err(|e| RuntimeError::Compile(format!("{e:#}")));
        let Some(cache) = &self.cache else {
            return Ok((compile()?, CacheOutcome::Disabled));
        };
        let path = cache.entry_path(&self.engine, &Sha256::digest(wasm).into());
        let replaced = match cache.load(&path) {
            Ok(Some(body)) => match deserialize(&self.engine, &body) {
                Ok(module) => return Ok((module, CacheOutcome::Hit)),
                Err(reason) => Some(reason),
            },
            Ok(None) => None,
            Err(reason) => Some(reason),
        };
        let module = compile()?;
        // A cache that cannot be written only costs the next run a compile.
        if let Ok(body) = module.serialize() {
            let _ = cache.store(&path, &body);
        }
        Ok((module, replaced.map_or(CacheOutcome::Miss, CacheOutcome::Replaced)))
    }
}

/// Loads compiled code that [`ModuleCache::load`] has verified against the
/// SHA-256 we wrote beside it, in a directory only this user can write.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, body: &[u8]) -> Result<Module, String> {
    // SAFETY: wasmtime requires the bytes to come from `Module::serialize`
    // of a compatible engine. They were written by `serialize` under a key
    // that includes this engine's compatibility hash and wasmtime's version,
    // and their checksum was verified just before this call, so they are
    // exactly the bytes we produced; wasmtime also re-checks compatibility.
    unsafe { Module::deserialize(engine, body) }.map_err(|e| format!("wasmtime refused it: {e}"))
}
