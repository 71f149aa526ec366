//! Terminal output: cargo-style status lines on stderr, `-q`/`-v`, colors,
//! and the one place that writes data to stdout.

use std::fmt::Display;
use std::io::{self, Write};

use anstream::{AutoStream, ColorChoice};
use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Color {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum MessageFormat {
    /// Text for people
    #[default]
    Human,
    /// One JSON document on stdout
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

const GREEN: Style = AnsiColor::Green.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();

/// Everything this shell writes goes through here: text from artifacts,
/// manifests, registries and modules cannot move the cursor, clear the
/// screen or retitle the terminal. Control characters are escaped; only
/// newlines, tabs and the exact styles above (which this shell writes
/// itself) pass.
fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    static STYLES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let styles = STYLES.get_or_init(|| {
        [GREEN, YELLOW, RED, CYAN].iter().flat_map(|s| [format!("{s}"), format!("{s:#}")]).collect()
    });
    let keep: Vec<&str> = styles.iter().map(String::as_str).collect();
    cargo_palyra_skill::text::escape_block(text, &keep)
}

pub struct Shell {
    verbosity: Verbosity,
    err: AutoStream<io::Stderr>,
    out: AutoStream<io::Stdout>,
}

impl Shell {
    pub fn new(verbosity: Verbosity, color: Color) -> Shell {
        let choice = match color {
            Color::Auto => ColorChoice::Auto,
            Color::Always => ColorChoice::Always,
            Color::Never => ColorChoice::Never,
        };
        Shell {
            verbosity,
            err: AutoStream::new(io::stderr(), choice),
            out: AutoStream::new(io::stdout(), choice),
        }
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    pub fn is_verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// `    Verified acme.echo 1.0.0`: a right-aligned green verb, then the message.
    pub fn status(&mut self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(self.err, "{GREEN}{verb:>12}{GREEN:#} {}", safe(&message.to_string()));
        }
    }

    /// Like [`Shell::status`] in red, for a failed check.
    pub fn status_failed(&mut self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(self.err, "{RED}{verb:>12}{RED:#} {}", safe(&message.to_string()));
        }
    }

    /// A status line shown only with `-v`.
    pub fn verbose(&mut self, verb: &str, message: impl Display) {
        if self.verbosity >= Verbosity::Verbose {
            let _ = writeln!(self.err, "{CYAN}{verb:>12}{CYAN:#} {}", safe(&message.to_string()));
        }
    }

    /// A block of text someone else wrote (a tool's stderr), verbatim, on stderr.
    pub fn block(&mut self, text: &str) {
        if self.verbosity >= Verbosity::Normal && !text.is_empty() {
            let _ = write!(self.err, "{}", safe(text));
            if !text.ends_with('\n') {
                let _ = writeln!(self.err);
            }
        }
    }

    pub fn warn(&mut self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(self.err, "{YELLOW}warning{YELLOW:#}: {}", safe(&message.to_string()));
        }
    }

    pub fn note(&mut self, message: impl Display) {
        if self.verbosity >= Verbosity::Normal {
            let _ = writeln!(self.err, "{CYAN}note{CYAN:#}: {}", safe(&message.to_string()));
        }
    }

    /// `error: ...` and its `Caused by:` chain; shown even with `-q`. A
    /// cause whose text was already shown (a message that embeds its
    /// source) is not repeated.
    pub fn error(&mut self, error: &anyhow::Error) {
        let mut shown = error.to_string();
        let _ = writeln!(self.err, "{RED}error{RED:#}: {}", safe(&shown));
        let causes: Vec<String> = error
            .chain()
            .skip(1)
            .filter_map(|cause| {
                let text = cause.to_string();
                let new = !shown.contains(&text);
                shown.push_str(&text);
                new.then_some(text)
            })
            .collect();
        if !causes.is_empty() {
            let _ = writeln!(self.err, "\nCaused by:");
            for cause in causes {
                let _ = writeln!(self.err, "  {}", safe(&cause));
            }
        }
    }

    /// Data for stdout (a closed pipe surfaces as `BrokenPipe`, handled in `main`).
    pub fn print(&mut self, text: impl Display) -> io::Result<()> {
        writeln!(self.out, "{}", safe(&text.to_string()))
    }

    /// Pretty JSON on stdout.
    pub fn print_json(&mut self, value: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        writeln!(self.out, "{text}")
    }

    /// Styles a word for human reports on stdout.
    pub fn good(word: &str) -> String {
        format!("{GREEN}{word}{GREEN:#}")
    }

    pub fn bad(word: &str) -> String {
        format!("{RED}{word}{RED:#}")
    }
}

pub use cargo_palyra_skill::text::human_size;

/// `--message-format human|json`, for every command that reports data.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
}
