//! OTLP/JSON decoding.

use crate::otlp_collector::ExportTraceServiceRequest;

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
///
/// `opentelemetry-proto`'s serde follows the OTLP/JSON mapping (hex ids, 64-bit integers as
/// strings or numbers) but takes enums only as integers; the protobuf JSON mapping also allows
/// their names (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`), which some SDKs send. The fast path
/// parses directly; on failure the document is parsed as a tree, enum names are replaced by their
/// numbers, and parsed again.
pub fn decode_json_request(body: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    match serde_json::from_slice::<ExportTraceServiceRequest>(body) {
        Ok(req) => Ok(req),
        Err(first) => {
            let mut tree: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
            if !normalise_enums(&mut tree) {
                return Err(format!("invalid OTLP/JSON: {first}"));
            }
            serde_json::from_value(tree).map_err(|e| format!("invalid OTLP/JSON: {e}"))
        }
    }
}

/// Replaces enum names by numbers in place; returns whether anything changed.
fn normalise_enums(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if let Value::String(name) = v {
                    let number = match key.as_str() {
                        "kind" => span_kind_number(name),
                        "code" => status_code_number(name),
                        _ => None,
                    };
                    if let Some(n) = number {
                        *v = Value::from(n);
                        changed = true;
                        continue;
                    }
                }
                changed |= normalise_enums(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                changed |= normalise_enums(v);
            }
        }
        _ => {}
    }
    changed
}

fn span_kind_number(name: &str) -> Option<i32> {
    Some(match name {
        "SPAN_KIND_UNSPECIFIED" => 0,
        "SPAN_KIND_INTERNAL" => 1,
        "SPAN_KIND_SERVER" => 2,
        "SPAN_KIND_CLIENT" => 3,
        "SPAN_KIND_PRODUCER" => 4,
        "SPAN_KIND_CONSUMER" => 5,
        _ => return None,
    })
}

fn status_code_number(name: &str) -> Option<i32> {
    Some(match name {
        "STATUS_CODE_UNSET" => 0,
        "STATUS_CODE_OK" => 1,
        "STATUS_CODE_ERROR" => 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
      "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
      "spanId":"eee19b7ec3c1b174","name":"op","kind":KIND,"startTimeUnixNano":"1544712660000000000",
      "endTimeUnixNano":"1544712661000000000","status":{"code":CODE}}]}]}]}"#;

    #[test]
    fn accepts_enum_numbers_and_names() {
        for (kind, code) in [
            ("2", "2"),
            ("\"SPAN_KIND_SERVER\"", "\"STATUS_CODE_ERROR\""),
        ] {
            let doc = DOC.replace("KIND", kind).replace("CODE", code);
            let req = decode_json_request(doc.as_bytes()).expect("decodes");
            let span = &req.resource_spans[0].scope_spans[0].spans[0];
            assert_eq!(span.kind, 2);
            assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
            assert_eq!(span.trace_id.len(), 16);
            assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_json_request(b"{not json").is_err());
        assert!(decode_json_request(br#"{"resourceSpans": 5}"#).is_err());
        let doc = DOC.replace("KIND", "\"NOPE\"").replace("CODE", "0");
        assert!(decode_json_request(doc.as_bytes()).is_err());
    }
}
