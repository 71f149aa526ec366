//! `--help` examples that paste at any width: clap wraps a long line where
//! the terminal ends, which splits a command in two. Every example line is
//! kept within [`WIDTH`] columns here, continued with ` \` at a space outside
//! quotes, and a trailing `# comment` moves to a line of its own above.

use clap::Command;

/// The widest example line (clap's narrowest usual terminal is 80).
pub const WIDTH: usize = 76;

/// `command` and all its subcommands with pasteable examples.
pub fn pasteable(mut command: Command) -> Command {
    if let Some(text) = command.get_after_help().map(ToString::to_string)
        && text.contains("Examples:\n")
    {
        command = command.after_help(rewrap(&text));
    }
    let names: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for name in names {
        command = command.mut_subcommand(name, pasteable);
    }
    command
}

/// The text with each line of its `Examples:` block within [`WIDTH`].
pub fn rewrap(text: &str) -> String {
    let mut out = String::new();
    let mut in_examples = false;
    for line in text.split('\n') {
        if line == "Examples:" {
            in_examples = true;
        } else if line.trim().is_empty() {
            in_examples = false;
        }
        if in_examples && line.starts_with("  ") && line.chars().count() > WIDTH {
            out.push_str(&wrap_example(line));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// One example line as lines of at most [`WIDTH`] columns (a single word
/// longer than that stays whole).
fn wrap_example(line: &str) -> String {
    let (command, comment) = match line.find("  # ").filter(|at| *at > 2) {
        Some(at) => (line[..at].trim_end(), Some(line[at..].trim())),
        None => (line, None),
    };
    let mut lines = Vec::new();
    if let Some(comment) = comment {
        lines.push(format!("  {comment}"));
    }
    // A line that already continues one keeps its deeper indent.
    let first_indent = if line.starts_with("      ") { "      " } else { "  " };
    let mut current = String::new();
    for word in words(command.trim_start()) {
        let indent = if lines.len() == usize::from(comment.is_some()) { first_indent } else { "      " };
        let candidate =
            if current.is_empty() { format!("{indent}{word}") } else { format!("{current} {word}") };
        if candidate.chars().count() + 2 > WIDTH && !current.is_empty() {
            lines.push(format!("{current} \\"));
            current = format!("      {word}");
        } else {
            current = candidate;
        }
    }
    lines.push(current);
    lines.join("\n")
}

/// The words of a shell line: split at spaces outside single or double quotes.
fn words(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if at > start {
                    words.push(&line[start..at]);
                }
                start = at + 1;
            }
            _ => {}
        }
    }
    if start < line.len() {
        words.push(&line[start..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_examples_continue_with_a_backslash_and_comments_move_above() {
        let text = "Examples:\n  cargo palyra-skill verify dist/*.palyra-skill --trust-store ~/.palyra/trust.json --allow-tofu\n  cargo palyra-skill -v inspect echo.palyra-skill --message-format json   # with the archive layout\n  cargo palyra-skill run --input '{\"text\": \"a b c d e f g h i j k l m n o p q r s t u v w x y z\"}'\n\nExit status:\n  0  a line of prose that is longer than the width is left to clap's wrapping as it is";
        let out = rewrap(text);
        for line in out.lines().take_while(|l| !l.is_empty()) {
            assert!(line.chars().count() <= WIDTH || !line.contains(' '), "{line}");
        }
        assert!(out.contains("--trust-store \\\n      ~/.palyra/trust.json --allow-tofu"), "{out}");
        assert!(out.contains("  # with the archive layout\n  cargo palyra-skill -v inspect"), "{out}");
        assert!(out.contains("'{\"text\": \"a b c"), "quoted text stays whole: {out}");
        assert!(out.ends_with("is left to clap's wrapping as it is"));
    }
}
