//! The integration tests, one binary: each module drives one command (or
//! one concern) through the built `cargo-palyra-skill` and the library,
//! sharing `support/`. One binary links wasmtime once instead of once per
//! file, which keeps a cold `target/` small.

mod support;

mod action;
mod advisories;
mod archive;
mod attestation;
mod audit;
mod build;
mod cases;
mod diff;
mod docs;
mod engine;
mod files;
mod firstrun;
mod fit;
mod gha;
mod hardening;
mod headroom;
mod hints;
mod host;
mod inspect;
mod interop;
mod keyfile;
mod keygen;
mod manifest;
mod messages;
mod new;
mod outputs;
mod pack;
mod pkcs11;
mod profile;
mod properties;
mod rebuild;
mod registry;
mod release;
mod run;
mod secrets;
mod sign;
mod terminal;
mod tiers;
mod traps;
mod vault;
mod vectors;
mod verify;
mod workflow;
mod workspace;
