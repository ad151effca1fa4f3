//! OTLP → Prometheus names, as the Collector's translator (`prometheus/otlptranslator`) builds
//! them: metric names with unit and type suffixes, label names sanitised.

/// What kind of series a metric becomes, for its suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A monotonic sum: `_total`.
    Counter,
    /// A gauge: `_ratio` when the unit is `1`.
    Gauge,
    /// Anything else (histograms, summaries, non-monotonic sums).
    Other,
}

/// The Prometheus name of an OTLP metric.
///
/// With `add_suffixes`: the name is split on every character that is not a letter or digit and
/// joined with `_`; the unit's suffix is appended (`ms` → `milliseconds`, `By/s` →
/// `bytes_per_second`, annotations in braces dropped) unless already a token; counters end in
/// `_total`, gauges of unit `1` in `_ratio`. Without: invalid characters become `_`. Then the
/// namespace is prefixed, and a leading digit gets a `_`.
pub(crate) fn metric_name(
    name: &str,
    unit: &str,
    kind: NameKind,
    namespace: &str,
    add_suffixes: bool,
) -> String {
    let mut tokens: Vec<String> = if add_suffixes {
        name.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    } else {
        let joined = name
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        vec![joined]
    };
    if add_suffixes {
        let (main, per) = unit_suffixes(unit);
        if let Some(main) = main
            && !tokens.contains(&main)
        {
            tokens.push(main);
        }
        if let Some(per) = per
            && !tokens.contains(&per)
        {
            tokens.push("per".to_string());
            tokens.push(per);
        }
        if kind == NameKind::Counter {
            tokens.retain(|t| t != "total");
            tokens.push("total".to_string());
        }
        if unit == "1" && kind == NameKind::Gauge {
            tokens.retain(|t| t != "ratio");
            tokens.push("ratio".to_string());
        }
    }
    let namespace = clean(namespace);
    if !namespace.is_empty() {
        tokens.insert(0, namespace);
    }
    let name = tokens
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{name}")
    } else {
        name
    }
}

/// Invalid characters replaced by `_`, leading and trailing `_` trimmed (for unit suffixes and
/// the namespace).
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// The suffixes for a UCUM unit: the main unit and the `per` unit (`By/s` → bytes, second).
fn unit_suffixes(unit: &str) -> (Option<String>, Option<String>) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let per = parts.next().map(str::trim).unwrap_or("");
    let main = (!main.is_empty() && !main.contains(['{', '}']))
        .then(|| clean(unit_name(main).unwrap_or(main)))
        .filter(|s| !s.is_empty());
    let per = (!per.is_empty() && !per.contains(['{', '}']))
        .then(|| clean(per_unit_name(per).unwrap_or(per)))
        .filter(|s| !s.is_empty());
    (main, per)
}

fn unit_name(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_name(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// A Prometheus label name for an attribute key: invalid characters become `_`; a leading digit
/// gets `key_`, a single leading `_` gets `key`.
pub(crate) fn label_name(key: &str) -> String {
    let s: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else if s.starts_with('_') && !s.starts_with("__") {
        format!("key{s}")
    } else {
        s
    }
}

/// A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`).
pub(crate) fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// A label value escaped for the text format.
pub(crate) fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escaped for the text format.
pub(crate) fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
