use std::fmt;
use std::str::FromStr;

/// Why a trace or span id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("id {0:?} is not hexadecimal")]
    NotHex(String),
    #[error("id {0:?} has {1} hex digits, expected at most {2}")]
    TooLong(String, usize, usize),
    #[error("id is empty")]
    Empty,
    #[error("id is all zeros")]
    Zero,
    #[error("binary id has {0} bytes, expected {1}")]
    WrongLength(usize, usize),
}

macro_rules! hex_id {
    ($name:ident, $len:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Parses from raw bytes as found in OTLP; shorter ids (e.g. 64-bit trace ids) are
            /// left-padded with zeros.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                if bytes.len() > $len || bytes.is_empty() {
                    return Err(IdError::WrongLength(bytes.len(), $len));
                }
                let mut out = [0u8; $len];
                out[$len - bytes.len()..].copy_from_slice(bytes);
                Ok(Self(out))
            }

            /// True when every byte is zero (an invalid id in OTLP).
            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|b| *b == 0)
            }

            /// Lower-case hex, always the full width.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            /// Accepts up to the full width of hex digits; shorter strings (as Jaeger and Zipkin
            /// send for 64-bit ids, or without leading zeros) are left-padded.
            fn from_str(s: &str) -> Result<Self, IdError> {
                if s.is_empty() {
                    return Err(IdError::Empty);
                }
                if s.len() > $len * 2 {
                    return Err(IdError::TooLong(s.to_string(), s.len(), $len * 2));
                }
                let mut padded = String::with_capacity($len * 2);
                for _ in s.len()..$len * 2 {
                    padded.push('0');
                }
                padded.push_str(s);
                let mut out = [0u8; $len];
                hex::decode_to_slice(&padded, &mut out)
                    .map_err(|_| IdError::NotHex(s.to_string()))?;
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
    };
}

hex_id!(TraceId, 16, "A 128-bit trace id.");
hex_id!(SpanId, 8, "A 64-bit span id.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_short_and_full_ids() {
        let short: TraceId = "abc".parse().expect("short id");
        assert_eq!(short.to_string(), "00000000000000000000000000000abc");
        let full: SpanId = "0102030405060708".parse().expect("full id");
        assert_eq!(full.0, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn rejects_bad_ids() {
        assert!(matches!("xyz".parse::<TraceId>(), Err(IdError::NotHex(_))));
        assert!(matches!("".parse::<SpanId>(), Err(IdError::Empty)));
        assert!(matches!(
            "0".repeat(33).parse::<TraceId>(),
            Err(IdError::TooLong(..))
        ));
        assert!(TraceId::from_bytes(&[1; 17]).is_err());
        assert_eq!(
            TraceId::from_bytes(&[1; 8]).expect("64-bit").to_hex(),
            "00000000000000000101010101010101"
        );
    }
}
