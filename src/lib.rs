//! `cargo-palyra-skill`: the publisher's side of the Palyra skill contract.
//!
//! One implementation of the `.palyra-skill` format, shared by every command:
//! the manifest schema ([`manifest`]), the container ([`artifact`]), keys and
//! signatures ([`signing`]), publisher trust ([`trust`]) and the consumer's
//! verification order ([`verify`]).

pub mod action;
pub mod artifact;
pub mod attest;
pub mod audit;
pub mod auditable;
pub mod baseline;
pub mod build;
pub mod cargo;
pub mod case_run;
pub mod cases;
pub mod clock;
pub mod diff;
pub mod env;
pub mod fit;
pub mod fsutil;
pub mod headroom;
pub mod host;
pub mod inspect;
pub mod join;
pub mod keyfile;
pub mod keys;
pub mod keystore;
pub mod lockfile;
pub mod manifest;
pub mod members;
pub mod named;
pub mod names;
pub mod pack;
pub mod parallel;
pub mod paths;
pub mod profile;
pub mod provenance;
pub mod rebuild;
pub mod registry;
pub mod release;
pub mod reproduce;
pub mod runtime;
pub mod sbom;
pub mod scaffold;
pub mod session;
pub mod settings;
pub mod signing;
pub mod sizes;
pub mod skill;
pub mod stamp;
pub mod suggest;
pub mod symbols;
pub mod text;
pub mod toolchain;
pub mod trust;
pub mod tune;
pub mod verdict;
pub mod verify;
pub mod workspace;
pub mod zipcheck;
