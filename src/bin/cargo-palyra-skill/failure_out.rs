//! A failed call for people, shared by `run` and `test`: the daemon's
//! words without the engine's backtrace in them, then the stack once,
//! named, with what panicked and where the skill's own code is.

use cargo_palyra_skill::runtime::Failure;

/// The daemon's (or engine's) text with the engine's backtrace cut out:
/// `error while executing at wasm backtrace:\n 0: ...\n 8: 0x1636 -
/// <unknown>!run: wasm trap: ...` keeps its first line and the trap.
pub fn without_backtrace(text: &str) -> String {
    const MARK: &str = "wasm backtrace:";
    let Some(at) = text.find(MARK) else { return text.to_owned() };
    let frames = text[at..]
        .lines()
        .skip(1)
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    let last = text[at..].lines().last().unwrap_or("");
    // `    8:   0x1636 - <unknown>!run: wasm trap: ...`: what follows the frame's name.
    let trap = last.find('!').and_then(|bang| last[bang..].find(": ").map(|colon| &last[bang + colon + 2..]));
    let head = &text[..at + MARK.len() - 1];
    match trap {
        Some(trap) => format!("{head} ({frames} frames, shown below): {trap}"),
        None => format!("{head} ({frames} frames, shown below)"),
    }
}

/// The lines that explain `failure`'s stack, each with `indent`.
pub fn stack_lines(failure: &Failure, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(trace) = failure.trace.as_deref() else { return lines };
    if let Some(hottest) = &trace.hottest {
        lines.push(format!(
            "{indent}most fuel: {hottest} (a quick profile; `--fuel-profile DIR` draws the flame graph)"
        ));
    }
    if trace.stack.is_empty() {
        return lines;
    }
    let explained = &trace.explained;
    if let Some(panic) = &explained.panic {
        let at = explained.at.as_deref().map_or(String::new(), |at| format!(" in {at}"));
        lines.push(format!("{indent}panicked: {panic}{at}"));
    } else if let Some(at) = &explained.at {
        lines.push(format!("{indent}stopped in {at}"));
    }
    if let Some(own) = &explained.skill_frame {
        lines.push(format!("{indent}called from the skill's {own}"));
    }
    lines.push(format!("{indent}stack, innermost first:"));
    for (depth, frame) in trace.stack.iter().enumerate() {
        let name = frame
            .name
            .clone()
            .unwrap_or_else(|| format!("function #{} (no name: no named copy)", frame.index));
        let location = frame.location.as_deref().map_or(String::new(), |l| format!(" at {l}"));
        lines.push(format!("{indent}  {depth:>3}: {name}{location}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backtrace_is_cut_from_the_engines_text() {
        let text = "palyra.plugin.run execution failed: error while executing at wasm backtrace:\n    0:   0x1eae - <unknown>!__rustc::rust_panic\n    1:   0x1636 - <unknown>!run: wasm trap: wasm `unreachable` instruction executed";
        assert_eq!(
            without_backtrace(text),
            "palyra.plugin.run execution failed: error while executing at wasm backtrace (2 frames, shown below): wasm trap: wasm `unreachable` instruction executed"
        );
        assert_eq!(without_backtrace("out of fuel"), "out of fuel");
    }
}
