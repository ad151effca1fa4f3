//! Span and resource attributes of the standard workload: a core set per tier (http.*, rpc.*,
//! db.*, messaging.*), trace-wide ids (tenant, user), and extras drawn Zipf-skewed from a pool.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use spoor_model::otlp_common::{AnyValue, InstrumentationScope, KeyValue, any_value::Value};
use spoor_model::otlp_resource::Resource;

use crate::dist::{Zipf, zipf1};
use crate::topology::{Operation, Service, Tier};

/// How a value is drawn.
#[derive(Debug, Clone, Copy)]
enum Gen {
    Const(&'static str),
    Pick(&'static [&'static str]),
    Skew(&'static [&'static str]),
    Int(i64, i64),
    Bool(f64),
    Double(f64, f64),
    /// First word of the operation name (HTTP method, SQL verb).
    OpWord0,
    /// Second word of the operation name (SQL table).
    OpWord1,
    /// The part before `/` of the operation name (gRPC service).
    OpPrefix,
    OpName,
    OpDetail,
    ServiceHost,
    DbSystem,
    HttpStatus,
    GrpcStatus,
    Tenant,
    User,
    Session,
    RequestId,
    ClientIp,
    /// Random hex of this many bytes, fresh per span.
    Hex(usize),
    /// `prefix` + a Zipf-skewed number below `n`.
    Num(&'static str, u32),
    CacheKey,
}

type Def = (&'static str, Gen);

const HTTP: &[Def] = &[
    ("http.method", Gen::OpWord0),
    ("http.route", Gen::OpDetail),
    ("http.status_code", Gen::HttpStatus),
    ("client.address", Gen::ClientIp),
];
const RPC: &[Def] = &[
    ("rpc.system", Gen::Const("grpc")),
    ("rpc.service", Gen::OpPrefix),
    ("rpc.method", Gen::OpDetail),
    ("rpc.grpc.status_code", Gen::GrpcStatus),
];
const DB: &[Def] = &[
    ("db.system", Gen::DbSystem),
    ("db.name", Gen::Pick(&["shop", "shop_ro"])),
    ("db.operation", Gen::OpWord0),
    ("db.sql.table", Gen::OpWord1),
    ("db.statement", Gen::OpDetail),
];
const CACHE: &[Def] = &[
    ("db.system", Gen::Const("redis")),
    ("db.operation", Gen::OpName),
    ("db.statement", Gen::CacheKey),
    ("db.redis.db", Gen::Int(0, 3)),
    ("cache.hit", Gen::Bool(0.8)),
];
const PRODUCER: &[Def] = &[
    ("messaging.system", Gen::Const("kafka")),
    ("messaging.destination.name", Gen::OpDetail),
    ("messaging.operation", Gen::Const("publish")),
    ("messaging.partition", Gen::Int(0, 11)),
    ("messaging.message.id", Gen::Hex(8)),
];
const CONSUMER: &[Def] = &[
    ("messaging.system", Gen::Const("kafka")),
    ("messaging.destination.name", Gen::OpDetail),
    ("messaging.operation", Gen::Const("process")),
    ("messaging.group", Gen::Const("notify")),
    ("messaging.offset", Gen::Int(0, 1_000_000_000)),
    ("messaging.message.id", Gen::Hex(8)),
];
/// On every span: the trace-wide tenant and user.
const COMMON: &[Def] = &[("tenant.id", Gen::Tenant), ("user.id", Gen::User)];

/// Extras, most popular first (drawn Zipf-skewed by position).
const EXTRA: &[Def] = &[
    ("app.tier", Gen::Skew(&["free", "pro", "enterprise"])),
    ("retry.count", Gen::Int(0, 3)),
    ("app.region", Gen::Skew(REGIONS)),
    ("thread.id", Gen::Int(1, 64)),
    (
        "app.version",
        Gen::Skew(&["4.2.1", "4.2.0", "4.1.9", "4.3.0-rc1"]),
    ),
    ("cart.items", Gen::Int(0, 20)),
    ("session.id", Gen::Session),
    ("app.shard", Gen::Int(0, 63)),
    ("app.feature_flag", Gen::Skew(FLAGS)),
    ("request.id", Gen::RequestId),
    ("code.lineno", Gen::Int(10, 2000)),
    ("product.id", Gen::Num("sku-", 50_000)),
    ("server.address", Gen::ServiceHost),
    (
        "currency.code",
        Gen::Skew(&["USD", "EUR", "GBP", "JPY", "CHF"]),
    ),
    ("order.id", Gen::Hex(6)),
    (
        "thread.name",
        Gen::Skew(&["main", "worker-1", "worker-2", "io-0", "grpc-3"]),
    ),
    ("app.device", Gen::Pick(&["ios", "android", "web"])),
    ("user_agent", Gen::Skew(USER_AGENTS)),
    (
        "payment.method",
        Gen::Skew(&["card", "paypal", "voucher", "invoice"]),
    ),
    ("app.experiment", Gen::Skew(&["control", "A", "B"])),
    ("http.req_size", Gen::Int(0, 20_000)),
    (
        "app.locale",
        Gen::Skew(&["en-US", "de-DE", "fr-FR", "ja-JP", "pt-BR"]),
    ),
    ("app.cache.key", Gen::Num("k:", 100_000)),
    ("app.is_bot", Gen::Bool(0.05)),
    ("app.score", Gen::Double(0.0, 1.0)),
    ("app.priority", Gen::Pick(&["low", "normal", "high"])),
    ("network.transport", Gen::Const("tcp")),
    ("http.resp_size", Gen::Int(0, 200_000)),
    ("app.db.rows", Gen::Int(0, 500)),
    ("app.queue_depth", Gen::Int(0, 1000)),
    (
        "app.country",
        Gen::Skew(&["US", "DE", "FR", "JP", "BR", "IN", "GB"]),
    ),
    ("app.sampled_by", Gen::Const("head")),
    ("custom.tag.00", Gen::Pick(SMALL)),
    ("custom.tag.01", Gen::Pick(SMALL)),
    ("custom.tag.02", Gen::Pick(SMALL)),
    ("custom.tag.03", Gen::Int(0, 9)),
    ("custom.tag.04", Gen::Pick(SMALL)),
    ("custom.tag.05", Gen::Bool(0.5)),
    ("custom.tag.06", Gen::Pick(SMALL)),
    ("custom.tag.07", Gen::Int(0, 99)),
    ("custom.tag.08", Gen::Pick(SMALL)),
    ("custom.tag.09", Gen::Pick(SMALL)),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (iPhone) Shop/4.2",
    "Mozilla/5.0 (Windows NT 10.0) Chrome/131",
    "Mozilla/5.0 (Macintosh) Safari/605",
    "okhttp/4.12.0",
    "curl/8.5.0",
];
const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-1"];
const FLAGS: &[&str] = &["new-checkout", "fast-search", "dark-mode", "none"];
const SMALL: &[&str] = &["alpha", "beta", "gamma", "delta"];

/// Exception types for error events.
pub(crate) const EXCEPTIONS: &[(&str, &str)] = &[
    ("java.net.SocketTimeoutException", "read timed out"),
    (
        "io.grpc.StatusRuntimeException",
        "UNAVAILABLE: upstream connect error",
    ),
    (
        "redis.exceptions.ConnectionError",
        "connection reset by peer",
    ),
    (
        "PG::QueryCanceled",
        "canceling statement due to statement timeout",
    ),
    ("context.DeadlineExceeded", "context deadline exceeded"),
];

/// Messages of non-error log events.
pub(crate) const LOG_EVENTS: &[&str] = &[
    "cache miss",
    "retrying request",
    "slow query",
    "fallback used",
];

/// Values shared by every span of one trace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TraceCtx {
    pub(crate) tenant: u32,
    pub(crate) user: u32,
    pub(crate) session: u64,
    pub(crate) request: u64,
    pub(crate) client_ip: u32,
}

impl TraceCtx {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> Self {
        Self {
            tenant: zipf1(rng, 500),
            user: zipf1(rng, 100_000),
            session: rng.random(),
            request: rng.random(),
            client_ip: rng.random(),
        }
    }
}

/// What one span looks like to the attribute generator.
pub(crate) struct SpanView<'a> {
    pub(crate) service: &'a Service,
    pub(crate) op: &'a Operation,
    pub(crate) error: bool,
}

/// Draws attribute sets; holds the Zipf table of extras.
#[derive(Debug, Clone)]
pub(crate) struct AttrGen {
    extras: Zipf,
}

pub(crate) fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::StringValue(v.into())
}

fn hex(rng: &mut ChaCha8Rng, bytes: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b: u8 = rng.random();
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn word(text: &str, n: usize) -> &str {
    text.split(' ').nth(n).unwrap_or(text)
}

impl AttrGen {
    pub(crate) fn new() -> Self {
        Self {
            extras: Zipf::new(EXTRA.len(), 1.1),
        }
    }

    /// Appends 10–20 attributes for one span.
    pub(crate) fn span_attrs(
        &self,
        rng: &mut ChaCha8Rng,
        ctx: &TraceCtx,
        span: &SpanView<'_>,
        out: &mut Vec<KeyValue>,
    ) {
        // 10–20, skewed low (mean ≈ 12).
        let target = 10 + (11.0 * rng.random::<f64>().powi(3)) as usize;
        let core = match span.service.tier {
            Tier::Frontend | Tier::Gateway => HTTP,
            Tier::Business => RPC,
            Tier::Database => DB,
            Tier::Cache => CACHE,
            Tier::Queue => PRODUCER,
            Tier::Worker => CONSUMER,
        };
        out.reserve(target);
        for (key, g) in core.iter().chain(COMMON) {
            out.push(kv(key, self.value(rng, ctx, span, *g)));
        }
        // Extras without repeats: a bitmask over the (≤ 64) pool entries.
        let mut taken: u64 = 0;
        let mut attempts = 0;
        while out.len() < target && attempts < 64 {
            attempts += 1;
            let i = self.extras.sample(rng);
            if taken & (1 << i) != 0 {
                continue;
            }
            taken |= 1 << i;
            let (key, g) = EXTRA[i];
            out.push(kv(key, self.value(rng, ctx, span, g)));
        }
    }

    fn value(&self, rng: &mut ChaCha8Rng, ctx: &TraceCtx, span: &SpanView<'_>, g: Gen) -> Value {
        match g {
            Gen::Const(v) => s(v),
            Gen::Pick(vs) => s(vs[rng.random_range(0..vs.len())]),
            Gen::Skew(vs) => s(vs[zipf1(rng, vs.len() as u32) as usize]),
            Gen::Int(lo, hi) => Value::IntValue(rng.random_range(lo..=hi)),
            Gen::Bool(p) => Value::BoolValue(rng.random_bool(p)),
            Gen::Double(lo, hi) => Value::DoubleValue(lo + (hi - lo) * rng.random::<f64>()),
            Gen::OpWord0 => s(word(span.op.name, 0)),
            Gen::OpWord1 => s(word(span.op.name, 1)),
            Gen::OpPrefix => s(span.op.name.split('/').next().unwrap_or(span.op.name)),
            Gen::OpName => s(span.op.name),
            Gen::OpDetail => s(span.op.detail),
            Gen::ServiceHost => s(span.service.name),
            Gen::DbSystem => s(if span.service.name == "elasticsearch" {
                "elasticsearch"
            } else {
                "postgresql"
            }),
            Gen::HttpStatus => Value::IntValue(if span.error {
                [500, 502, 503][rng.random_range(0..3)]
            } else {
                [200, 200, 200, 200, 200, 201, 204, 304, 404][rng.random_range(0..9)]
            }),
            Gen::GrpcStatus => Value::IntValue(if span.error {
                [2, 4, 14][rng.random_range(0..3)]
            } else {
                0
            }),
            Gen::Tenant => s(format!("t{:03}", ctx.tenant)),
            Gen::User => s(format!("u{}", ctx.user)),
            Gen::Session => s(format!("{:016x}", ctx.session)),
            Gen::RequestId => s(format!("{:016x}", ctx.request)),
            Gen::ClientIp => {
                let [a, b, c, d] = ctx.client_ip.to_be_bytes();
                s(format!("10.{}.{}.{}", a ^ b, c, d))
            }
            Gen::Hex(n) => s(hex(rng, n)),
            Gen::Num(prefix, n) => s(format!("{prefix}{}", zipf1(rng, n))),
            Gen::CacheKey => s(format!("{} cart:u{}", span.op.name, ctx.user)),
        }
    }
}

/// The resource of one service (one pod of it).
pub(crate) fn resource(service: &Service) -> Resource {
    let attributes = vec![
        kv("service.name", s(service.name)),
        kv("service.namespace", s("shop")),
        kv("service.version", s("4.2.1")),
        kv(
            "service.instance.id",
            s(format!("{}-7d9f8b-x2k4q", service.name)),
        ),
        kv("deployment.environment.name", s("production")),
        kv("host.name", s(format!("node-{}", service.name.len() % 7))),
        kv("k8s.namespace.name", s("shop")),
        kv("k8s.pod.name", s(format!("{}-7d9f8b-x2k4q", service.name))),
        kv("telemetry.sdk.name", s("opentelemetry")),
        kv("telemetry.sdk.language", s(service.language)),
        kv("telemetry.sdk.version", s("1.38.0")),
    ];
    Resource {
        attributes,
        ..Default::default()
    }
}

/// The instrumentation scope of one service.
pub(crate) fn scope(service: &Service) -> InstrumentationScope {
    let name = match service.tier {
        Tier::Frontend | Tier::Gateway => "io.opentelemetry.http",
        Tier::Business => "io.opentelemetry.grpc",
        Tier::Database => "io.opentelemetry.db",
        Tier::Cache => "io.opentelemetry.redis",
        Tier::Queue | Tier::Worker => "io.opentelemetry.kafka",
    };
    InstrumentationScope {
        name: name.to_owned(),
        version: "1.38.0".to_owned(),
        ..Default::default()
    }
}
