//! Durations as policies write them: `"90s"`, `"30m"`, `"4h"`, `"7d"`, or combined, `"1h30m"`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A length of time, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    seconds: u64,
}

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Duration {
    /// A duration of `seconds`.
    pub const fn from_secs(seconds: u64) -> Self {
        Self { seconds }
    }

    /// A duration of `minutes`.
    pub const fn from_mins(minutes: u64) -> Self {
        Self { seconds: minutes * 60 }
    }

    /// A duration of `hours`.
    pub const fn from_hours(hours: u64) -> Self {
        Self { seconds: hours * 3_600 }
    }

    /// The duration in seconds.
    pub const fn as_secs(self) -> u64 {
        self.seconds
    }

    /// As a standard library duration.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }

    /// As a signed jiff duration, for timestamp arithmetic.
    pub fn to_signed(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(i64::try_from(self.seconds).unwrap_or(i64::MAX))
    }
}

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a duration: {reason}; write a whole number followed by a unit, \
     s, m, h or d, as in \"90s\", \"30m\", \"4h\", \"7d\" or \"1h30m\""
)]
pub struct ParseDurationError {
    text: String,
    reason: &'static str,
}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| ParseDurationError { text: text.to_owned(), reason };
        if text.is_empty() {
            return Err(error("it is empty"));
        }
        let mut seconds: u64 = 0;
        let mut digits = String::new();
        let mut last_unit_rank = None;
        for character in text.chars() {
            if character.is_ascii_digit() {
                digits.push(character);
                continue;
            }
            let Some(rank) = UNITS.iter().position(|(unit, _)| *unit == character) else {
                return Err(error(if character.is_whitespace() {
                    "it contains a space"
                } else if character == '.' || character == ',' {
                    "it has a fraction; use a smaller unit instead (90m, not 1.5h)"
                } else {
                    "it has a unit other than s, m, h or d"
                }));
            };
            if digits.is_empty() {
                return Err(error("a unit has no number before it"));
            }
            if last_unit_rank.is_some_and(|last| rank <= last) {
                return Err(error("units must go from largest to smallest, each once"));
            }
            last_unit_rank = Some(rank);
            let amount: u64 = digits.parse().map_err(|_| error("a number is too large"))?;
            seconds = amount
                .checked_mul(UNITS[rank].1)
                .and_then(|part| seconds.checked_add(part))
                .ok_or_else(|| error("it is too long"))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(error("the last number has no unit"));
        }
        Ok(Self { seconds })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.seconds;
        for (unit, size) in UNITS {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 2,
            "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
            "description": "A duration: whole numbers with units d, h, m, s, largest first, as in \"90s\", \"30m\", \"4h\", \"1h30m\".",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn parses_and_prints_canonically() {
        let cases = [
            ("90s", 90, "1m30s"),
            ("30m", 1_800, "30m"),
            ("4h", 14_400, "4h"),
            ("7d", 604_800, "7d"),
            ("1h30m", 5_400, "1h30m"),
            ("1d2h3m4s", 93_784, "1d2h3m4s"),
            ("0s", 0, "0s"),
        ];
        for (text, seconds, shown) in cases {
            let duration: Duration = text.parse().unwrap();
            assert_eq!(duration.as_secs(), seconds, "{text}");
            assert_eq!(duration.to_string(), shown, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration_and_says_why() {
        let cases = [
            ("", "it is empty"),
            ("4", "the last number has no unit"),
            ("h", "a unit has no number before it"),
            ("4 h", "it contains a space"),
            ("4y", "it has a unit other than s, m, h or d"),
            ("30m1h", "units must go from largest to smallest"),
            ("99999999999999999999s", "a number is too large"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<Duration>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(error.contains("\"1h30m\""), "the error shows what would be right");
        }
    }
}
