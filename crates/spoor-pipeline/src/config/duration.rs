//! Durations written as the Collector writes them: `200ms`, `1s`, `1m30s`, or an integer number
//! of nanoseconds (Go's `time.Duration`).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }
    pub const fn from_secs(s: u64) -> Self {
        Self(std::time::Duration::from_secs(s))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string().replace(' ', ""))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Nanos(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "invalid duration: expected a string such as \"200ms\" or \"1s\"",
            )
        })? {
            Raw::Nanos(n) => Ok(Self(std::time::Duration::from_nanos(n))),
            Raw::Text(s) => parse(&s).map(Self).map_err(serde::de::Error::custom),
        }
    }
}

fn parse(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    humantime::parse_duration(t).map_err(|_| {
        format!("invalid duration {s:?}: expected a number with a unit (ns, us, ms, s, m, h), e.g. \"200ms\" or \"1m30s\"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_collector_durations() {
        let d: Duration = serde_json::from_value(serde_json::json!("1m30s")).expect("valid");
        assert_eq!(d.get(), std::time::Duration::from_secs(90));
        let d: Duration = serde_json::from_value(serde_json::json!(1_000_000)).expect("nanos");
        assert_eq!(d.get(), std::time::Duration::from_millis(1));
        let e = serde_json::from_value::<Duration>(serde_json::json!("1x")).expect_err("bad");
        assert!(e.to_string().contains("invalid duration \"1x\""), "{e}");
        assert_eq!(
            serde_json::to_value(Duration::from_millis(200)).expect("ser"),
            "200ms"
        );
    }
}
