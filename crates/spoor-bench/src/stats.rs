//! Robust statistics over the alternating rounds, and the parser of `spoor tool inspect`'s
//! per-column byte table.

use std::collections::BTreeMap;

use serde::Serialize;

/// The median of `xs` (mean of the two middle values for an even count); `None` when empty or
/// when a value is not a number.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// Server CPU seconds per million acknowledged spans; `None` without CPU figures or spans.
pub fn cpu_s_per_million(cpu_s: Option<f64>, spans: u64) -> Option<f64> {
    let cpu = cpu_s?;
    (spans > 0 && cpu.is_finite()).then(|| cpu / (spans as f64 / 1e6))
}

/// The median over rounds of `a / b`, pairing the values of the same round (adjacent in time,
/// so a burst of load from other processes hits both sides of most pairs). Rounds missing
/// either value, or with `b <= 0`, are skipped.
pub fn paired_ratio(pairs: &[(Option<f64>, Option<f64>)]) -> Option<f64> {
    let ratios: Vec<f64> = pairs
        .iter()
        .filter_map(|(a, b)| match (a, b) {
            (Some(a), Some(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    median(&ratios)
}

/// Stored bytes of one column, summed over block files.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ColumnBytes {
    pub column: String,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// Compressed bytes per stored span (row).
    pub bytes_per_span: f64,
}

/// Adds the per-column table of one `spoor tool inspect <block>` output to `into`
/// (`column → (compressed, uncompressed)`); returns the block's row count, or `None` when the
/// output has no column table (an older binary, or a changed format).
///
/// The table is the lines after `columns (…):`, each
/// `  <column> <compressed> <B/span> <share>% <uncompressed> <B/span>` (or, from binaries
/// before the share column, `  <column> <compressed> <bytes/row> <uncompressed>`); its
/// header and `(all columns)` total are skipped. The row count comes from the
/// `size: … bytes, <rows> rows, …` line.
pub fn parse_inspect_columns(output: &str, into: &mut BTreeMap<String, (u64, u64)>) -> Option<u64> {
    let rows = output.lines().find_map(|l| {
        let rest = l.strip_prefix("size: ")?;
        let mut it = rest.split(", ");
        it.next()?;
        it.next()?.strip_suffix(" rows")?.trim().parse::<u64>().ok()
    })?;
    let mut in_table = false;
    let mut found = false;
    for line in output.lines() {
        if line.starts_with("columns (") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if !line.starts_with(' ') {
            break;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let (name, comp, uncomp) = match tokens.as_slice() {
            [name, comp, _, share, uncomp, _] if share.ends_with('%') => (name, comp, uncomp),
            [name, comp, _, uncomp] => (name, comp, uncomp),
            _ => continue,
        };
        if name.starts_with('(') {
            continue;
        }
        let (Ok(comp), Ok(uncomp)) = (comp.parse::<u64>(), uncomp.parse::<u64>()) else {
            continue;
        };
        let e = into.entry((*name).to_string()).or_default();
        e.0 += comp;
        e.1 += uncomp;
        found = true;
    }
    found.then_some(rows)
}

/// The summed table as rows, largest first.
pub fn column_rows(sums: &BTreeMap<String, (u64, u64)>, spans: u64) -> Vec<ColumnBytes> {
    let mut rows: Vec<ColumnBytes> = sums
        .iter()
        .map(|(column, (c, u))| ColumnBytes {
            column: column.clone(),
            compressed_bytes: *c,
            uncompressed_bytes: *u,
            bytes_per_span: *c as f64 / spans.max(1) as f64,
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.compressed_bytes));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
        // One outlier round (a noisy neighbour) does not move it.
        assert_eq!(median(&[100.0, 101.0, 5.0]), Some(100.0));
    }

    #[test]
    fn cpu_per_million_spans() {
        assert_eq!(cpu_s_per_million(Some(3.0), 2_000_000), Some(1.5));
        assert_eq!(cpu_s_per_million(Some(3.0), 0), None);
        assert_eq!(cpu_s_per_million(None, 10), None);
    }

    #[test]
    fn paired_ratio_is_the_median_of_per_round_ratios() {
        let pairs = [
            (Some(90.0), Some(100.0)),
            (Some(40.0), Some(50.0)),
            (Some(99.0), Some(100.0)),
            (None, Some(1.0)),
            (Some(1.0), Some(0.0)),
        ];
        assert_eq!(paired_ratio(&pairs), Some(0.9));
        assert_eq!(paired_ratio(&[(None, None)]), None);
    }

    /// The table as `spoor tool inspect` prints it now (B/span and share columns).
    const INSPECT: &str = "file: /d/blocks/01.parquet
size: 1000 bytes, 40 rows, 25.0 bytes/row, 1 row groups
spoor.format: 3

schema:
  trace_id                                 FIXED_LEN_BYTE_ARRAY None

row groups:
  #0: 40 rows, 900 bytes compressed

columns (40 spans, 25.00 bytes/span in files):
  column                                     compressed    B/span   share uncompressed    B/span
  trace_id                                          600     15.00   66.7%         1280     32.00
  attrs.list.element                                300      7.50   33.3%          900     22.50
  (all columns)                                     900     22.50  100.0%         2180     54.50
";

    /// The same from a binary before the B/span and share columns.
    const INSPECT_V2: &str = "size: 1000 bytes, 40 rows, 25.0 bytes/row, 1 row groups

columns (compressed bytes, bytes/row, uncompressed bytes):
  trace_id                                          600    15.00         1280
";

    #[test]
    fn parses_the_table_of_older_binaries_too() {
        let mut sums = BTreeMap::new();
        assert_eq!(parse_inspect_columns(INSPECT_V2, &mut sums), Some(40));
        assert_eq!(sums.get("trace_id"), Some(&(600, 1280)));
        assert_eq!(sums.len(), 1);
    }

    #[test]
    fn parses_and_sums_the_inspect_column_table() {
        let mut sums = BTreeMap::new();
        assert_eq!(parse_inspect_columns(INSPECT, &mut sums), Some(40));
        assert_eq!(parse_inspect_columns(INSPECT, &mut sums), Some(40));
        assert_eq!(sums.get("trace_id"), Some(&(1200, 2560)));
        assert_eq!(sums.get("attrs.list.element"), Some(&(600, 1800)));
        assert_eq!(sums.len(), 2, "{sums:?}");
        let rows = column_rows(&sums, 80);
        assert_eq!(rows[0].column, "trace_id");
        assert_eq!(rows[0].bytes_per_span, 15.0);
        assert_eq!(rows[1].compressed_bytes, 600);
    }

    #[test]
    fn no_column_table_is_none() {
        let mut sums = BTreeMap::new();
        assert_eq!(
            parse_inspect_columns("size: 10 bytes, 1 rows\n", &mut sums),
            None
        );
        assert_eq!(parse_inspect_columns("garbage", &mut sums), None);
        assert!(sums.is_empty());
    }
}
