//! The grammars of names that reach a command we run or print: cargo
//! package, profile, feature and crate names, rustc releases, dates,
//! versions and hashes. Text from an artifact, a provenance or a list is
//! held to these before it is used, and refused otherwise.

/// `value` is 1 to `max` bytes of ASCII letters, digits, `_`, `-` and `extra`.
pub(crate) fn chars_in(value: &str, max: usize, extra: &[u8]) -> bool {
    (1..=max).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || extra.contains(&b))
}

fn digits(value: &str) -> bool {
    !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit())
}

/// `MAJOR.MINOR.PATCH` with an optional `-pre` of `[0-9A-Za-z.-]`.
pub(crate) fn is_semver(value: &str) -> bool {
    let (core, pre) = value.split_once('-').map_or((value, None), |(c, p)| (c, Some(p)));
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| digits(p))
        && pre.is_none_or(|p| chars_in(p, 64, b".") && !p.contains('_'))
}

/// `1.N.M`, or `1.N.M-nightly` / `1.N.M-beta.K`, as `rustc -vV` prints its release.
pub(crate) fn is_rustc_release(value: &str) -> bool {
    let (core, channel) = value.split_once('-').map_or((value, None), |(c, ch)| (c, Some(ch)));
    let parts: Vec<&str> = core.split('.').collect();
    let channel_ok = match channel {
        None | Some("nightly") | Some("dev") => true,
        Some(beta) => {
            beta.strip_prefix("beta").is_some_and(|n| n.is_empty() || n.strip_prefix('.').is_some_and(digits))
        }
    };
    parts.len() == 3 && parts.iter().all(|p| digits(p)) && channel_ok
}

/// `YYYY-MM-DD`.
pub(crate) fn is_date(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

pub(crate) fn is_hex(value: &str, lens: &[usize]) -> bool {
    lens.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A crate name as cargo accepts one.
pub(crate) fn is_crate_name(name: &str) -> bool {
    chars_in(name, 64, b"")
}
