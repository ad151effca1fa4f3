//! Writing OpenMetrics text by hand (weighted counts are not integers, so the families computed
//! from traces are not `prometheus_client` metrics).

use std::fmt::Write as _;

/// A label value escaped for the exposition format.
pub(crate) fn escape(v: &str) -> String {
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

/// A Prometheus label name from an attribute key (`http.method` → `http_method`).
pub(crate) fn label_name(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// `{a="x",b="y"}` (with `extra` appended, for `le`), or nothing without labels.
pub(crate) fn labels(pairs: &[(String, String)], extra: Option<(&str, &str)>) -> String {
    if pairs.is_empty() && extra.is_none() {
        return String::new();
    }
    let mut out = String::from("{");
    let mut first = true;
    for (k, v) in pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra)
    {
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
    out
}

/// A number as Prometheus reads it (`+Inf`, integers without a fraction).
pub(crate) fn number(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A cumulative histogram with explicit bounds and weighted counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Histogram {
    /// Per bucket (not cumulative); the last is the overflow bucket above every bound.
    pub(crate) counts: Vec<f64>,
    pub(crate) sum: f64,
    pub(crate) count: f64,
}

impl Histogram {
    pub(crate) fn new(bounds: usize) -> Self {
        Self {
            counts: vec![0.0; bounds + 1],
            sum: 0.0,
            count: 0.0,
        }
    }

    pub(crate) fn observe(&mut self, bounds: &[f64], value: f64, weight: f64) {
        let i = bounds.partition_point(|b| *b < value);
        if let Some(c) = self.counts.get_mut(i) {
            *c += weight;
        }
        self.sum += value * weight;
        self.count += weight;
    }

    /// `_bucket`, `_sum` and `_count` lines for one series.
    pub(crate) fn write(
        &self,
        out: &mut String,
        name: &str,
        bounds: &[f64],
        l: &[(String, String)],
    ) {
        let mut cumulative = 0.0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c;
            let le = bounds.get(i).map(|b| number(*b)).unwrap_or("+Inf".into());
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                labels(l, Some(("le", &le))),
                number(cumulative)
            );
        }
        let _ = writeln!(out, "{name}_sum{} {}", labels(l, None), number(self.sum));
        let _ = writeln!(
            out,
            "{name}_count{} {}",
            labels(l, None),
            number(self.count)
        );
    }
}
