//! How much of a cap a figure uses: module bytes against the operator's
//! `max_module_size_bytes`, and fuel, wall time and memory against the
//! effective budget of a call. A figure at or over the warning share
//! (`[package.metadata.palyra-skill] headroom-warn`, 0.8 by default) is a
//! warning; over the cap, the host refuses.

use serde::Serialize;

/// The share of a cap at which a figure is reported as a warning.
pub const DEFAULT_WARN_AT: f64 = 0.8;

/// Where a figure stands against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// At or over the warning share, within the cap.
    Warn,
    /// Over the cap: the host refuses the module or stops the call.
    Over,
}

/// One figure against its cap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Headroom {
    pub used: u64,
    pub cap: u64,
    /// `used` as a percentage of `cap`, to one decimal.
    pub percent: f64,
    pub level: Level,
}

impl Headroom {
    pub fn new(used: u64, cap: u64, warn_at: f64) -> Headroom {
        let share = if cap == 0 { f64::INFINITY } else { used as f64 / cap as f64 };
        let level = if used > cap {
            Level::Over
        } else if share >= warn_at {
            Level::Warn
        } else {
            Level::Ok
        };
        let percent = if share.is_finite() { (share * 1000.0).round() / 10.0 } else { 100.0 };
        Headroom { used, cap, percent, level }
    }

    /// `12,345 of 262,144 (4.7%)` with `unit` after each number.
    pub fn describe(&self, unit: &str) -> String {
        use crate::text::thousands;
        format!("{}{unit} of {}{unit} ({:.1}%)", thousands(self.used), thousands(self.cap), self.percent)
    }
}

/// `headroom-warn` as a share in (0, 1]: anything else is refused by the caller.
pub fn valid_warn_at(value: f64) -> bool {
    value > 0.0 && value <= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_changes_at_the_warning_share_and_past_the_cap() {
        assert_eq!(Headroom::new(79, 100, 0.8).level, Level::Ok);
        assert_eq!(Headroom::new(80, 100, 0.8).level, Level::Warn);
        assert_eq!(Headroom::new(100, 100, 0.8).level, Level::Warn);
        assert_eq!(Headroom::new(101, 100, 0.8).level, Level::Over);
        assert_eq!(Headroom::new(95, 100, 0.96).level, Level::Ok);
        assert_eq!(Headroom::new(1, 3, 0.8).percent, 33.3);
        assert_eq!(Headroom::new(266_219, 262_144, 0.8).describe(" B"), "266,219 B of 262,144 B (101.6%)");
    }
}
