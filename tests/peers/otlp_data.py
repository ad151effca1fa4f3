"""Deterministic OTLP JSON input for the peer tests, and normalisation of OTLP JSON output.

`input_request()` builds one ExportTraceServiceRequest (OTLP JSON, as POSTed to /v1/traces) with
three resources, two scopes each and 40 spans in 8 traces: HTTP server and client spans with names
like `GET /api/v1/users/123`, `/health` checks, database spans with `db.statement`, attributes of
every OTLP value type, PII (card numbers, e-mail addresses, bearer tokens), events, a link, error
statuses and every span kind.

`normalise(lines)` turns file-exporter output (OTLP JSON lines, one ExportTraceServiceRequest per
line) into a sorted list of flat records, one per span, so that two exporters' outputs compare
equal exactly when they carry the same spans with the same resource, scope and span content. Only
representation differences are removed: int64 as string or number, enums as name or number, hex
ids in either case, absent vs empty/zero default fields, the order of resources, scopes, spans and
attributes, and how spans were split across lines (batches).
"""

import base64
import random

SERVICES = [
    ("frontend", {"host.name": "web-1", "deployment.environment": "staging", "k8s.pod.uid": "a1b2"}),
    ("users-api", {"host.name": "api-7", "service.version": "1.4.2", "team": "identity"}),
    ("postgres-proxy", {"host.name": "db-2", "db.system": "postgresql"}),
]
SCOPES = [("io.opentelemetry.http", "1.2.0"), ("app.custom", "")]
KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
KIND_NAMES = {f"SPAN_KIND_{k.upper()}": v for k, v in KINDS.items()}
KIND_NAMES["SPAN_KIND_UNSPECIFIED"] = 0
STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
BASE_NS = 1_764_000_000_000_000_000


def _v(value):
    """A Python value as an OTLP JSON AnyValue (int64 as a string, as protojson writes it)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_v(x) for x in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attrs(value)}}
    return {"stringValue": value}


def _attrs(d):
    return [{"key": k, "value": _v(v)} for k, v in d.items()]


def _span(rng, trace_id, span_id, parent, name, kind, start, dur, attrs, status=0, events=(), links=()):
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": KINDS[kind],
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + dur),
        "attributes": _attrs(attrs),
    }
    if parent:
        span["parentSpanId"] = parent
    if status:
        span["status"] = {"code": status, "message": "internal error" if status == 2 else ""}
    if events:
        span["events"] = list(events)
    if links:
        span["links"] = list(links)
    return span


def input_request(seed=10, link_to_parent=False):
    """One ExportTraceServiceRequest (OTLP JSON) with 36 spans in 8 traces; the same for a seed.

    The users-api server span carries a link: to a span of another trace, or with
    `link_to_parent`, to its own parent (Jaeger then reports one FOLLOWS_FROM reference instead of
    CHILD_OF plus FOLLOWS_FROM)."""
    rng = random.Random(seed)
    hexid = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    buckets = {(r, s): [] for r in range(len(SERVICES)) for s in range(len(SCOPES))}
    users = [123, 42, 7, 99999, 5]
    for t in range(8):
        trace_id = hexid(32)
        start = BASE_NS + t * 1_000_000_000
        if t % 4 == 3:
            # A health check: one server span, and its probe.
            root = hexid(16)
            buckets[(0, 0)].append(
                _span(rng, trace_id, root, None, "/health", "server", start, 150_000,
                      {"http.method": "GET", "http.route": "/health", "http.target": "/health",
                       "http.status_code": 200, "user_agent.original": "kube-probe/1.29"}))
            buckets[(0, 1)].append(
                _span(rng, trace_id, hexid(16), root, "check db", "internal", start + 10_000, 50_000,
                      {"check.ok": True, "retry.count": "0"}))
            continue
        user = users[t % len(users)]
        error = t % 3 == 2
        code = 500 if error else 200
        root, api, db = hexid(16), hexid(16), hexid(16)
        link = (trace_id, root) if link_to_parent else (hexid(32), hexid(16))
        email = f"user{user}@example.com"
        buckets[(0, 0)].append(
            _span(rng, trace_id, root, None, f"GET /api/v1/users/{user}", "server", start, 9_000_000,
                  {"http.method": "GET", "http.url": f"https://shop.example.com/api/v1/users/{user}?x=1",
                   "http.route": "/api/v1/users/{id}", "http.status_code": code,
                   "http.request.header.authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.abc.def",
                   "user.email": email, "net.peer.port": 44312, "latency.ratio": 0.75,
                   "cache.hit": t % 2 == 0, "tags": ["a", "b", str(t)], "retry.count": str(t % 4)},
                  status=2 if error else 0,
                  events=[{"timeUnixNano": str(start + 1_000), "name": "auth.checked",
                           "attributes": _attrs({"auth.user": email, "auth.ok": True})}]))
        buckets[(0, 1)].append(
            _span(rng, trace_id, hexid(16), root, "render profile", "internal", start + 100_000, 500_000,
                  {"template": "profile.html", "payment.card": "4111 1111 1111 1111",
                   "note": f"contact {email} for card 5500-0000-0000-0004"}))
        buckets[(1, 0)].append(
            _span(rng, trace_id, api, root, f"GET /api/v1/users/{user}", "server", start + 200_000,
                  7_000_000,
                  {"http.method": "GET", "http.target": f"/api/v1/users/{user}",
                   "http.status_code": code, "user.id": str(user), "enduser.id": user},
                  status=2 if error else 1,
                  links=[{"traceId": link[0], "spanId": link[1], "attributes": _attrs({"link.kind": "caller"})}]))
        buckets[(1, 1)].append(
            _span(rng, trace_id, hexid(16), api, "users.lookup", "producer" if t == 5 else "internal",
                  start + 300_000, 1_000_000, {"cache.key": f"user:{user}", "cache.hit": False}))
        buckets[(2, 0)].append(
            _span(rng, trace_id, db, api, "SELECT users", "client", start + 400_000, 4_000_000,
                  {"db.system": "postgresql", "db.name": "shop",
                   "db.statement": f"SELECT * FROM users WHERE id = {user} AND email = '{email}'",
                   "db.rows": rng.randint(0, 3), "net.peer.name": "db-2"},
                  status=2 if error and t == 2 else 0))
        if t in (0, 4):
            buckets[(2, 1)].append(
                _span(rng, trace_id, hexid(16), db, "POST /api/v1/orders", "consumer", start + 500_000,
                      200_000, {"http.method": "POST", "http.route": "/api/v1/orders",
                                "http.status_code": 201, "order.total": 12.5}))
    resource_spans = []
    for r, (service, extra) in enumerate(SERVICES):
        scope_spans = []
        for s, (scope, version) in enumerate(SCOPES):
            spans = buckets[(r, s)]
            if not spans:
                continue
            scope_obj = {"name": scope}
            if version:
                scope_obj["version"] = version
            scope_spans.append({"scope": scope_obj, "spans": spans})
        resource_spans.append({
            "resource": {"attributes": _attrs({"service.name": service, **extra})},
            "scopeSpans": scope_spans,
        })
    return {"resourceSpans": resource_spans}


def span_count(request):
    return sum(len(ss["spans"]) for rs in request["resourceSpans"] for ss in rs["scopeSpans"])


# --- normalisation -----------------------------------------------------------------------------


def _norm_value(v):
    """An AnyValue as a plain, comparable Python value (tagged by type)."""
    if not v:
        return ("empty",)
    if "stringValue" in v:
        return ("str", v["stringValue"])
    if "boolValue" in v:
        return ("bool", bool(v["boolValue"]))
    if "intValue" in v:
        return ("int", int(v["intValue"]))
    if "doubleValue" in v:
        return ("double", float(v["doubleValue"]))
    if "bytesValue" in v:
        return ("bytes", v["bytesValue"])
    if "arrayValue" in v:
        return ("array", tuple(_norm_value(x) for x in (v["arrayValue"] or {}).get("values", [])))
    if "kvlistValue" in v:
        return ("kvlist", _norm_attrs((v["kvlistValue"] or {}).get("values", [])))
    return ("unknown", repr(sorted(v.items())))


def _norm_attrs(attrs):
    return tuple(sorted((a["key"], _norm_value(a.get("value"))) for a in attrs or []))


def _int(x, names=None):
    if x is None or x == "":
        return 0
    if isinstance(x, str) and names is not None and x in names:
        return names[x]
    return int(x)


def _hex(x):
    """Ids: lower-case hex; absent, empty and all-zero are the same (no id)."""
    x = (x or "").lower()
    return "" if set(x) <= {"0"} else x


def _norm_span(span):
    status = span.get("status") or {}
    out = {
        "traceId": _hex(span.get("traceId")),
        "spanId": _hex(span.get("spanId")),
        "parentSpanId": _hex(span.get("parentSpanId")),
        "traceState": span.get("traceState", ""),
        "flags": _int(span.get("flags")),
        "name": span.get("name", ""),
        "kind": _int(span.get("kind"), KIND_NAMES),
        "startTimeUnixNano": _int(span.get("startTimeUnixNano")),
        "endTimeUnixNano": _int(span.get("endTimeUnixNano")),
        "attributes": _norm_attrs(span.get("attributes")),
        "droppedAttributesCount": _int(span.get("droppedAttributesCount")),
        "events": tuple(
            (_int(e.get("timeUnixNano")), e.get("name", ""), _norm_attrs(e.get("attributes")),
             _int(e.get("droppedAttributesCount")))
            for e in span.get("events") or []
        ),
        "droppedEventsCount": _int(span.get("droppedEventsCount")),
        "links": tuple(
            (_hex(li.get("traceId")), _hex(li.get("spanId")), li.get("traceState", ""),
             _norm_attrs(li.get("attributes")), _int(li.get("droppedAttributesCount")),
             _int(li.get("flags")))
            for li in span.get("links") or []
        ),
        "droppedLinksCount": _int(span.get("droppedLinksCount")),
        "status": (_int(status.get("code"), STATUS_NAMES), status.get("message", "")),
    }
    return out


def normalise(requests_json):
    """Flat records {resource, scope, span}, sorted by (traceId, spanId) then content."""
    records = []
    for req in requests_json:
        for rs in req.get("resourceSpans") or []:
            res = rs.get("resource") or {}
            resource = {
                "attributes": _norm_attrs(res.get("attributes")),
                "droppedAttributesCount": _int(res.get("droppedAttributesCount")),
                "schemaUrl": rs.get("schemaUrl", ""),
            }
            for ss in rs.get("scopeSpans") or []:
                sc = ss.get("scope") or {}
                scope = {
                    "name": sc.get("name", ""),
                    "version": sc.get("version", ""),
                    "attributes": _norm_attrs(sc.get("attributes")),
                    "droppedAttributesCount": _int(sc.get("droppedAttributesCount")),
                    "schemaUrl": ss.get("schemaUrl", ""),
                }
                for span in ss.get("spans") or []:
                    records.append({"resource": resource, "scope": scope, "span": _norm_span(span)})
    records.sort(key=lambda r: (r["span"]["traceId"], r["span"]["spanId"], repr(r)))
    return records


def _fmt_attrs(attrs):
    return {k: v[1] if len(v) == 2 else v for k, v in attrs}


def diff_records(expected, actual, expected_name="otelcol", actual_name="spoor", limit=15):
    """A readable, span-by-span diff of two normalised outputs; empty when they are equal."""
    lines = []
    key = lambda r: (r["span"]["traceId"], r["span"]["spanId"])  # noqa: E731
    exp = {}
    act = {}
    for r in expected:
        exp.setdefault(key(r), []).append(r)
    for r in actual:
        act.setdefault(key(r), []).append(r)
    for k in sorted(set(exp) | set(act)):
        e, a = exp.get(k, []), act.get(k, [])
        label = f"span {k[1]} of trace {k[0]}"
        if len(e) != len(a):
            names = {x["span"]["name"] for x in e + a}
            lines.append(f"{label} {sorted(names)}: {len(e)}× in {expected_name}, {len(a)}× in {actual_name}")
            continue
        for er, ar in zip(e, a):
            for part in ("resource", "scope", "span"):
                for field in sorted(set(er[part]) | set(ar[part])):
                    ev, av = er[part].get(field), ar[part].get(field)
                    if ev == av:
                        continue
                    if field == "attributes":
                        ed, ad = _fmt_attrs(ev), _fmt_attrs(av)
                        for ak in sorted(set(ed) | set(ad)):
                            if ed.get(ak, "<absent>") != ad.get(ak, "<absent>"):
                                lines.append(
                                    f"{label} ({er['span']['name']!r}): {part}.attributes[{ak!r}]: "
                                    f"{expected_name}={ed.get(ak, '<absent>')!r} "
                                    f"{actual_name}={ad.get(ak, '<absent>')!r}")
                    else:
                        lines.append(f"{label} ({er['span']['name']!r}): {part}.{field}: "
                                     f"{expected_name}={ev!r} {actual_name}={av!r}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more differences"]
    return lines
