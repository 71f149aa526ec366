//! One module per subcommand, each an `Opts` struct with a `run` method.

pub mod action_report;
pub mod audit;
pub mod build;
mod build_members;
pub mod diff;
pub mod inspect;
pub mod keygen;
pub mod new;
pub mod pack;
pub mod publish;
pub mod rebuild;
pub mod registry;
pub mod run;
pub mod sign;
pub mod test;
pub mod tune;
pub mod verify;
