//! The one clock every timestamp comes from: `SOURCE_DATE_EPOCH` (seconds
//! since 1970) when it is set, so builds are reproducible, else the system
//! time.

/// `SOURCE_DATE_EPOCH` is set but is not a time.
#[derive(Debug, thiserror::Error)]
#[error("`SOURCE_DATE_EPOCH` is `{0}`, not a number of seconds since 1970: fix or unset it")]
pub struct ClockError(String);

/// The time to stamp, and whether `SOURCE_DATE_EPOCH` fixed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub unix_ms: i64,
    pub fixed: bool,
}

/// Reads the clock (and the environment) once.
pub fn now() -> Result<Now, ClockError> {
    match crate::env::string(crate::env::Var::SourceDateEpoch) {
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .filter(|ms| *ms >= 0)
            .map(|unix_ms| Now { unix_ms, fixed: true })
            .ok_or(ClockError(raw)),
        None => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            Ok(Now { unix_ms: i64::try_from(now.as_millis()).unwrap_or(i64::MAX), fixed: false })
        }
    }
}
