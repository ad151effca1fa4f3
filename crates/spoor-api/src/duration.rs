//! Go duration strings (`1.5ms`, `1h30m`, `100us`, `250µs`), as the Jaeger API takes them.

/// Parses a Go duration into nanoseconds. Negative durations are refused.
pub fn parse_go_duration(input: &str) -> Result<u64, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!("invalid duration {input:?}"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid duration {input:?}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {input:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {input:?}")),
        };
        total += number * scale;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {input:?} out of range"));
    }
    Ok(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as p;

    #[test]
    fn parses_go_durations() {
        assert_eq!(p("1.5ms"), Ok(1_500_000));
        assert_eq!(p("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(p("100us"), Ok(100_000));
        assert_eq!(p("250µs"), Ok(250_000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("2s"), Ok(2_000_000_000));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "ms", "10", "1x", "-1s", "1.2.3s"] {
            assert!(p(bad).is_err(), "{bad} should fail");
        }
    }
}
