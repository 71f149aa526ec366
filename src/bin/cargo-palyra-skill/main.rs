//! `cargo palyra-skill`: argument parsing, dispatch, error printing and exit codes.

/// Where the reference is; every `--help` ends with it.
macro_rules! reference {
    () => {
        concat!("Reference, one page per command: ", env!("CARGO_PKG_REPOSITORY"), "/tree/main/docs")
    };
}

/// The exit status table a `--help` page ends with, in the command's own
/// words: what 0 means, what 1 means (for a command that checks), and what 2 means.
macro_rules! exit_status {
    ($ok:expr, $failed:expr, $error:expr) => {
        concat!("Exit status:\n  0  ", $ok, "\n  1  ", $failed, "\n  2  ", $error, "\n\n", reference!())
    };
    ($ok:expr, $error:expr) => {
        concat!(
            "Exit status:\n  0  ",
            $ok,
            "\n  2  ",
            $error,
            " (never 1: nothing is checked)\n\n",
            reference!()
        )
    };
}

mod commands;
mod failure_out;
mod help;
mod input;
mod keystore;
mod operator;
mod passphrase;
mod profile_out;
mod secrets;
mod select;
mod shell;
mod size_out;
mod skill;

use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use shell::{Color, Shell, Verbosity};

/// The outcome of a command that ran to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    CheckFailed,
}

/// Build, sign, verify, run, test and audit Palyra skills (`.palyra-skill` artifacts).
#[derive(Debug, Parser)]
#[command(
    name = "cargo-palyra-skill",
    bin_name = "cargo palyra-skill",
    version,
    propagate_version = true,
    after_help = concat!(
        "Examples:\n",
        "  cargo palyra-skill new demo && cd demo\n",
        "  cargo palyra-skill build && cargo palyra-skill test\n",
        "  cargo palyra-skill run --allow-http api.example.com\n",
        "  cargo palyra-skill audit target/palyra-skill/example.demo-0.1.0.palyra-skill\n",
        "  cargo palyra-skill keygen --out publisher.pem\n",
        "  cargo palyra-skill pack --manifest skill.toml --module echo.wasm --sbom sbom.cdx.json \\\n",
        "      --provenance provenance.json --out echo.palyra-skill --key publisher.pem\n",
        "  cargo palyra-skill verify echo.palyra-skill --allow-tofu\n",
        "  cargo palyra-skill inspect echo.palyra-skill\n",
        "  cargo palyra-skill diff echo-1.0.0.palyra-skill echo-1.1.0.palyra-skill --fail-on-escalation\n",
        "  cargo palyra-skill publish echo.palyra-skill --registry-dir site/ --key registry.pem\n\n",
        exit_status!(
            "success",
            "a check failed (verification rejected, audit failed, a test failed, ...)",
            "could not run (bad input, I/O error)"
        )
    )
)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
struct GlobalOpts {
    /// Print more about what happens
    #[arg(short, long, global = true, conflicts_with = "quiet", help_heading = "Global options")]
    verbose: bool,
    /// Print only errors and data
    #[arg(short, long, global = true, help_heading = "Global options")]
    quiet: bool,
    /// When to color the output
    #[arg(long, value_enum, global = true, default_value_t = Color::Auto, value_name = "WHEN", help_heading = "Global options")]
    color: Color,
}

#[derive(Debug, Subcommand)]
enum Command {
    Build(commands::build::Opts),
    New(commands::new::Opts),
    Keygen(commands::keygen::Opts),
    Pack(commands::pack::Opts),
    Sign(commands::sign::Opts),
    Run(commands::run::Opts),
    Test(commands::test::Opts),
    Tune(commands::tune::Opts),
    Verify(commands::verify::Opts),
    Inspect(commands::inspect::Opts),
    Audit(commands::audit::Opts),
    Diff(commands::diff::Opts),
    Publish(commands::publish::Opts),
    Rebuild(commands::rebuild::Opts),
    Registry(commands::registry::Opts),
    #[command(hide = true)]
    ActionReport(commands::action_report::Opts),
}

/// `cargo palyra-skill ...` reaches us as `cargo-palyra-skill palyra-skill ...`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum CargoCli {
    PalyraSkill(Cli),
}

/// Whether clap may print a help text (and its examples): rewrapping every
/// subcommand's examples costs each start-up time, so it is done only then.
fn may_show_help(args: &[std::ffi::OsString]) -> bool {
    let cargo = args.get(1).is_some_and(|arg| arg == "palyra-skill");
    args.len() <= 1 + usize::from(cargo)
        || args.iter().skip(1).any(|arg| arg == "-h" || arg == "--help" || arg == "help")
}

fn parse(args: Vec<std::ffi::OsString>) -> Cli {
    let pasteable = if may_show_help(&args) { help::pasteable } else { std::convert::identity };
    if args.get(1).is_some_and(|arg| arg == "palyra-skill") {
        let matches = pasteable(CargoCli::command()).get_matches_from(args);
        let CargoCli::PalyraSkill(cli) = CargoCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli
    } else {
        let matches = pasteable(Cli::command().bin_name("cargo-palyra-skill")).get_matches_from(args);
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    // First, while this is the only thread: no child process may inherit a key.
    secrets::take_from_environment(&args);
    let cli = parse(args);
    let verbosity = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let mut shell = Shell::new(verbosity, cli.global.color);
    let result = match cli.command {
        Command::Build(opts) => opts.run(&mut shell),
        Command::New(opts) => opts.run(&mut shell),
        Command::Keygen(opts) => opts.run(&mut shell),
        Command::Run(opts) => opts.run(&mut shell),
        Command::Test(opts) => opts.run(&mut shell),
        Command::Tune(opts) => opts.run(&mut shell),
        Command::Pack(opts) => opts.run(&mut shell),
        Command::Sign(opts) => opts.run(&mut shell),
        Command::Verify(opts) => opts.run(&mut shell),
        Command::Inspect(opts) => opts.run(&mut shell),
        Command::Audit(opts) => opts.run(&mut shell),
        Command::Diff(opts) => opts.run(&mut shell),
        Command::Publish(opts) => opts.run(&mut shell),
        Command::Rebuild(opts) => opts.run(&mut shell),
        Command::Registry(opts) => opts.run(&mut shell),
        Command::ActionReport(opts) => opts.run(&mut shell),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            shell.error(&error);
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        CargoCli::command().debug_assert();
    }
}
