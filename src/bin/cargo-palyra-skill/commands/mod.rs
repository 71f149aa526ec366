//! One module per subcommand, each an `Opts` struct with a `run` method.

pub mod audit;
pub mod build;
pub mod inspect;
pub mod keygen;
pub mod new;
pub mod pack;
pub mod run;
pub mod sign;
pub mod test;
pub mod verify;
