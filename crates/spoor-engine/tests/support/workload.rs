//! A deterministic, realistic trace workload after GOALS.md's "standard workload" (until the
//! project's `spoor loadgen` generator exists as a library): ~20 services in a fixed topology,
//! heavy-tailed spans per trace, 10–20 Zipf-skewed attributes per span with some
//! high-cardinality ids, events on ~5 % of spans, ~2 % errors, log-normal per-hop latency.

use spoor_model::otlp_common::{InstrumentationScope, KeyValue};
use spoor_model::otlp_resource::Resource;
use spoor_model::otlp_trace::span::Event;
use spoor_model::{ResourceSpans, ScopeSpans, Span, Status, attr};

/// SplitMix64: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Zipf-ish over `0..n` with exponent ~1.
    pub fn zipf(&mut self, n: u64) -> u64 {
        let x = (n as f64 + 1.0).powf(self.unit()) - 1.0;
        (x as u64).min(n.saturating_sub(1))
    }
}

const SERVICES: &[&str] = &[
    "frontend",
    "api-gateway",
    "auth",
    "users",
    "catalog",
    "search",
    "cart",
    "checkout",
    "payments",
    "shipping",
    "inventory",
    "recommendations",
    "ads",
    "email",
    "notifications",
    "postgres",
    "mysql",
    "redis",
    "kafka",
    "memcached",
];

struct ServiceInfo {
    resource: Resource,
    ops: Vec<String>,
    kind: &'static str,
}

fn services() -> Vec<ServiceInfo> {
    SERVICES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = match *name {
                "postgres" | "mysql" => "db",
                "redis" | "memcached" => "cache",
                "kafka" => "queue",
                _ => "http",
            };
            let ops = (0..(4 + i % 7))
                .map(|j| match kind {
                    "db" => format!("SELECT {name}.table{j}"),
                    "cache" => format!("{} key{j}", ["GET", "SET", "DEL"][j % 3]),
                    "queue" => format!("topic{j} publish"),
                    _ => format!("{} /api/{name}/v1/op{j}", ["GET", "POST"][j % 2]),
                })
                .collect();
            ServiceInfo {
                resource: Resource {
                    attributes: vec![
                        attr::string("service.name", *name),
                        attr::string("service.version", format!("1.{}.{}", i % 4, i % 9)),
                        attr::string("host.name", format!("node-{:02}", i % 6)),
                        attr::string("k8s.pod.name", format!("{name}-7f9c{i:02}-x{}", i % 3)),
                        attr::string("deployment.environment", "production"),
                        attr::string(
                            "telemetry.sdk.language",
                            ["go", "java", "python", "node"][i % 4],
                        ),
                        attr::string("telemetry.sdk.name", "opentelemetry"),
                        attr::string("telemetry.sdk.version", "1.30.0"),
                    ],
                    ..Default::default()
                },
                ops,
                kind,
            }
        })
        .collect()
}

/// A generator of OTLP batches.
pub struct Workload {
    rng: Rng,
    services: Vec<ServiceInfo>,
    /// Unix nanoseconds of the next trace's start.
    pub now: u64,
    /// Mean gap between trace starts, nanoseconds.
    pub gap: u64,
    /// Cap on spans per trace (the tail is cut here to keep tests small).
    pub max_spans: usize,
}

impl Workload {
    pub fn new(seed: u64, start_unix_nanos: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            services: services(),
            now: start_unix_nanos,
            gap: 2_000_000,
            max_spans: 1000,
        }
    }

    fn spans_in_trace(&mut self) -> usize {
        // Log-normal: median ~13, p99 ~ 300.
        let n = (13.0f64.ln() + 1.35 * self.rng.normal()).exp();
        (n as usize).clamp(1, self.max_spans)
    }

    fn duration(&mut self) -> u64 {
        // Log-normal per hop: p50 1 ms, p99 ~100 ms.
        ((1_000_000f64).ln() + 1.98 * self.rng.normal())
            .exp()
            .max(1_000.0) as u64
    }

    fn attributes(&mut self, svc: usize, trace_user: u64, tenant: u64) -> Vec<KeyValue> {
        let kind = self.services[svc].kind;
        let mut a = Vec::with_capacity(16);
        match kind {
            "db" => {
                a.push(attr::string(
                    "db.system",
                    if svc == 15 { "postgresql" } else { "mysql" },
                ));
                a.push(attr::string("db.name", "shop"));
                let t = self.rng.zipf(30);
                a.push(attr::string(
                    "db.statement",
                    format!("SELECT * FROM table{t} WHERE id = ? AND tenant = ?"),
                ));
                a.push(attr::string("db.operation", "SELECT"));
            }
            "cache" => {
                a.push(attr::string("db.system", "redis"));
                a.push(attr::string(
                    "db.operation",
                    ["GET", "SET"][self.rng.below(2) as usize],
                ));
            }
            "queue" => {
                a.push(attr::string("messaging.system", "kafka"));
                let t = self.rng.zipf(10);
                a.push(attr::string(
                    "messaging.destination.name",
                    format!("topic{t}"),
                ));
                a.push(attr::string("messaging.operation", "publish"));
            }
            _ => {
                let m = ["GET", "POST", "PUT", "DELETE"][self.rng.zipf(4) as usize];
                a.push(attr::string("http.request.method", m));
                let code = if self.rng.below(50) == 0 {
                    500
                } else {
                    [200, 200, 200, 201, 404][self.rng.below(5) as usize]
                };
                a.push(attr::int("http.response.status_code", code));
                let r = self.rng.zipf(40);
                a.push(attr::string(
                    "http.route",
                    format!("/api/v1/resource{r}/{{id}}"),
                ));
                a.push(attr::string(
                    "url.full",
                    format!(
                        "https://shop.example.com/api/v1/resource{r}/{}",
                        self.rng.below(100_000)
                    ),
                ));
                a.push(attr::string("server.address", SERVICES[svc]));
                a.push(attr::int("server.port", 8080));
                a.push(attr::string("network.protocol.version", "1.1"));
            }
        }
        a.push(attr::string("user.id", format!("user-{trace_user}")));
        a.push(attr::string("tenant.id", format!("tenant-{tenant}")));
        // Zipf-skewed extra keys with mixed value types.
        let extra = 2 + self.rng.below(6);
        for _ in 0..extra {
            let k = self.rng.zipf(60);
            match k % 4 {
                0 => a.push(attr::string(
                    &format!("app.key{k}"),
                    format!("value{}", self.rng.zipf(200)),
                )),
                1 => a.push(attr::int(
                    &format!("app.count{k}"),
                    self.rng.zipf(1000) as i64,
                )),
                2 => a.push(attr::bool(&format!("app.flag{k}"), self.rng.below(4) == 0)),
                _ => a.push(attr::string(
                    &format!("app.id{k}"),
                    format!("{:08x}", self.rng.next_u64() as u32),
                )),
            }
        }
        a
    }

    /// One trace as one batch (one ResourceSpans per service that took part).
    pub fn trace(&mut self) -> Vec<ResourceSpans> {
        let n = self.spans_in_trace();
        let trace_id: Vec<u8> = [
            self.rng.next_u64().to_be_bytes(),
            self.rng.next_u64().to_be_bytes(),
        ]
        .concat();
        let user = self.rng.zipf(100_000);
        let tenant = self.rng.zipf(1_000);
        let start = self.now;
        self.now += self.rng.below(2 * self.gap.max(1));
        // (span, service, depth, start, end)
        let mut spans: Vec<(Span, usize, u32)> = Vec::with_capacity(n);
        for i in 0..n {
            let (parent, svc, depth, pstart, pend) = if i == 0 {
                (None, 0usize, 0u32, start, start + 5 * self.duration())
            } else {
                // Prefer recent spans as parents (fan-out 1–10, depth 2–6).
                let back = self.rng.zipf(i as u64) as usize;
                let p = i - 1 - back.min(i - 1);
                let (ps, psvc, pdepth) = (&spans[p].0, spans[p].1, spans[p].2);
                let child_svc = if pdepth >= 6 || self.rng.below(3) == 0 {
                    psvc
                } else {
                    (psvc + 1 + self.rng.zipf(SERVICES.len() as u64 - 1) as usize) % SERVICES.len()
                };
                (
                    Some(ps.span_id.clone()),
                    child_svc,
                    pdepth + 1,
                    ps.start_time_unix_nano,
                    ps.end_time_unix_nano,
                )
            };
            let s = pstart + self.rng.below((pend - pstart).max(1) / 2 + 1);
            let e = if i == 0 { pend } else { s + self.duration() };
            let ops = &self.services[svc].ops;
            let name = ops[self.rng.zipf(ops.len() as u64) as usize].clone();
            let error = self.rng.below(50) == 0;
            let events = if self.rng.below(20) == 0 {
                vec![Event {
                    time_unix_nano: s + 1000,
                    name: if error {
                        "exception".into()
                    } else {
                        "log".into()
                    },
                    attributes: vec![attr::string(
                        "message",
                        format!("step {} done", self.rng.zipf(20)),
                    )],
                    dropped_attributes_count: 0,
                }]
            } else {
                Vec::new()
            };
            let span = Span {
                trace_id: trace_id.clone(),
                span_id: self.rng.next_u64().to_be_bytes().to_vec(),
                parent_span_id: parent.unwrap_or_default(),
                name,
                kind: if i == 0 || self.rng.below(2) == 0 {
                    2
                } else {
                    3
                },
                start_time_unix_nano: s,
                end_time_unix_nano: e,
                attributes: self.attributes(svc, user, tenant),
                events,
                status: error.then(|| Status {
                    message: "internal error".into(),
                    code: 2,
                }),
                ..Default::default()
            };
            spans.push((span, svc, depth));
        }
        let mut out: Vec<ResourceSpans> = Vec::new();
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        for (span, svc, _) in spans {
            by_service[svc].push(span);
        }
        for (svc, spans) in by_service.into_iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            out.push(ResourceSpans {
                resource: Some(self.services[svc].resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "io.opentelemetry.contrib".into(),
                        version: "1.2.0".into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            });
        }
        out
    }

    /// Traces until at least `spans` spans, as one batch per trace.
    pub fn batches(&mut self, spans: usize) -> Vec<Vec<ResourceSpans>> {
        let mut out = Vec::new();
        let mut n = 0;
        while n < spans {
            let t = self.trace();
            n += spoor_model::span_count(&t);
            out.push(t);
        }
        out
    }
}
