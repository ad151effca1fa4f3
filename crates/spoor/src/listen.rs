use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A listener flag's value: an address to bind, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    Off,
    On(SocketAddr),
}

impl Listen {
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Listen::Off => None,
            Listen::On(a) => Some(a),
        }
    }
}

impl FromStr for Listen {
    type Err = String;

    /// `off`, `host:port`, `ip:port`, or `:port` (all interfaces, as in Go).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
            return Ok(Listen::Off);
        }
        let full = if let Some(port) = s.strip_prefix(':') {
            format!("0.0.0.0:{port}")
        } else {
            s.to_string()
        };
        if let Ok(addr) = full.parse::<SocketAddr>() {
            return Ok(Listen::On(addr));
        }
        full.to_socket_addrs()
            .map_err(|e| {
                format!("invalid listen address {s:?}: {e} (use host:port, :port or off)")
            })?
            .next()
            .map(Listen::On)
            .ok_or_else(|| format!("listen address {s:?} resolves to nothing"))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::On(a) => write!(f, "{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listen_values() {
        assert_eq!("off".parse::<Listen>(), Ok(Listen::Off));
        assert_eq!(
            ":4317".parse::<Listen>().map(|l| l.to_string()),
            Ok("0.0.0.0:4317".to_string())
        );
        assert_eq!(
            "127.0.0.1:0".parse::<Listen>().map(|l| l.to_string()),
            Ok("127.0.0.1:0".to_string())
        );
        assert!("localhost:4317".parse::<Listen>().is_ok());
        assert!("nonsense".parse::<Listen>().is_err());
    }
}
