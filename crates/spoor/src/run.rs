use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use spoor_api::{Readiness, RunningServer};
use spoor_engine::{Engine, EngineConfig, FsyncPolicy};
use spoor_model::TraceSink;
use spoor_pipeline::config::legacy_env_warnings;
use spoor_pipeline::receivers::{ListenerDefaults, listeners, resolve_endpoint};
use spoor_pipeline::registry::{Kind, Spec};
use spoor_pipeline::{BuildContext, Graph};
use spoor_query::QueryService;
use spoor_receivers::{ConnectionLimits, ReceiverContext, RunningReceiver};
use spoor_storage::{MemoryStore, SpanReader, SpanWriter};
use spoor_telemetry::{DEFAULT_SAMPLE_INTERVAL, MemoryLimiter, Telemetry};
use tokio_util::sync::CancellationToken;

use crate::cli::{RunArgs, StorageKind, WalFsync};
use crate::sink::StoreSink;

/// How long shutdown waits for listeners to drain before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The listener settings the flags give every receiver.
fn listener_defaults(args: &RunArgs) -> ListenerDefaults {
    ListenerDefaults {
        max_bytes: args.max_request_bytes,
        max_spans: args.max_in_flight_spans,
        connections: ConnectionLimits {
            max_connections: args.receiver_max_connections,
            header_read_timeout: args.receiver_header_timeout,
            body_read_timeout: args.receiver_body_timeout,
            idle_timeout: args.receiver_idle_timeout,
            tls: tls_settings(args),
            auth: None,
        },
        otlp_http_cors: args.otlp_http_cors_allowed_origins.clone(),
        zipkin_cors: args.zipkin_cors_allowed_origins.clone(),
        authenticators: Default::default(),
    }
}

/// Most (service, operation, kind) series in each Monitor API snapshot.
const MONITOR_MAX_SERIES: usize = 2000;
/// Most (minute, parent, child) entries the service graph keeps for /api/dependencies.
const DEPENDENCY_MAX_ENTRIES: usize = 500_000;

/// What every HTTP listener of the query side shares: shutdown, connection limits, TLS and the
/// counter of refused credentials.
struct HttpListeners {
    shutdown: CancellationToken,
    limits: spoor_api::HttpLimits,
    tls: Option<spoor_api::ServerTls>,
    auth_metrics: spoor_api::auth::AuthMetrics,
    tenancy: Option<Arc<spoor_api::auth::Tenancy>>,
}

impl HttpListeners {
    /// What `name` checks: `auth` when given, the tenant when tenancy is on, and `role`.
    fn guard(
        &self,
        name: &'static str,
        auth: Option<&spoor_api::auth::Auth>,
        role: spoor_api::auth::Role,
    ) -> spoor_api::auth::Guard {
        self.auth_metrics
            .guard(auth.cloned(), self.tenancy.clone(), role, name)
    }

    /// Serves `router` on `addr` as `name`, behind `guard` when given.
    async fn serve(
        &self,
        name: &'static str,
        addr: std::net::SocketAddr,
        router: axum::Router,
        guard: Option<spoor_api::auth::Guard>,
    ) -> anyhow::Result<RunningServer> {
        let router = match guard {
            Some(guard) => self.auth_metrics.http(router, guard, name),
            None => router,
        };
        let router = spoor_api::security_headers(router, self.tls.is_some());
        let server = spoor_api::serve_https(
            name,
            addr,
            router,
            self.shutdown.clone(),
            self.limits,
            self.tls.clone(),
        )
        .await?;
        Ok(server)
    }
}

/// The TLS the `--tls-*` flags give every listener, if any.
fn tls_settings(args: &RunArgs) -> Option<spoor_api::TlsServerSettings> {
    let (cert, key) = (args.tls_cert_file.as_ref()?, args.tls_key_file.as_ref()?);
    Some(spoor_api::TlsServerSettings {
        cert_file: cert.clone(),
        key_file: key.clone(),
        client_ca_file: args.tls_client_ca_file.clone().unwrap_or_default(),
        min_version: args.tls_min_version.clone(),
        reload_interval: Some(args.tls_reload_interval),
        ..Default::default()
    })
}

/// Runs all-in-one until SIGINT or SIGTERM, then drains and returns.
pub async fn run(mut args: RunArgs, explicit: &[String]) -> anyhow::Result<()> {
    // --role query/compact imply --read-only (no receivers, no WAL).
    args.resolve_roles()?;
    for w in legacy_env_warnings(&|v| std::env::var(v).ok()) {
        tracing::warn!("{w}");
    }
    let config = crate::config::load(&args, explicit)
        .map_err(|d| anyhow::anyhow!("invalid configuration:\n{d}"))?;
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    let telemetry = Telemetry::new();
    let shutdown = CancellationToken::new();
    let memory_limit = process_memory_limit(&args, explicit, &config);
    let memory = MemoryLimiter::new(memory_limit, &telemetry);
    memory
        .start_sampler(DEFAULT_SAMPLE_INTERVAL)
        .context("starting the memory sampler")?;
    tracing::info!(limit_bytes = ?memory.limit(), "memory limit");
    let readiness = Readiness::default();

    let tenancy = tenancy(&args, &telemetry)?;
    let keys = Arc::new(args.encryption.keyring().context("encryption at rest")?);
    let encrypted = keys.enabled();
    if encrypted {
        tracing::info!("encryption at rest: on");
    }
    let mut engine: Option<Arc<Engine>> = None;
    let mut tenant_stores: Option<Arc<crate::tenants::TenantStores>> = None;
    let (writer, reader): (Arc<dyn SpanWriter>, Arc<dyn SpanReader>) = match args.storage {
        _ if tenancy.is_some() => {
            let backend = match args.storage {
                StorageKind::Memory => crate::tenants::Backend::Memory {
                    max_traces: args.memory_max_traces,
                },
                StorageKind::Disk => {
                    let mut config = engine_config(&args);
                    config.keys = keys.clone();
                    // Every tenant's head shares the process's budget.
                    config.memory_limit =
                        memory_limit.map(|l| l / args.tenancy_max_tenants.clamp(1, 16) as u64);
                    crate::tenants::Backend::Disk {
                        config: Box::new(config),
                    }
                }
            };
            let stores = Arc::new(crate::tenants::TenantStores::new(
                backend,
                args.tenancy_max_tenants,
                args.tenant_max_bytes,
                &telemetry,
            ));
            tracing::info!(header = %args.tenancy_header, "tenancy: one store per tenant");
            tenant_stores = Some(stores.clone());
            (stores.clone(), stores)
        }
        StorageKind::Memory => {
            let store = Arc::new(MemoryStore::new(args.memory_max_traces));
            store.register_metrics(&telemetry);
            tracing::info!(max_traces = args.memory_max_traces, "storage: memory");
            (store.clone(), store)
        }
        StorageKind::Disk => {
            let mut config = engine_config(&args);
            config.memory_limit = memory_limit;
            config.keys = keys.clone();
            let opened = Engine::open(config, &telemetry)
                .await
                .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
            let opened = Arc::new(opened);
            tracing::info!(
                data_dir = %args.data_dir.display(),
                storage_url = args.storage_url.as_deref().unwrap_or("(data dir)"),
                retention = ?args.retention,
                "storage: disk"
            );
            engine = Some(opened.clone());
            (opened.clone(), opened)
        }
    };
    // The service graph's edges per minute, for /api/dependencies: kept in the data dir on disk.
    let dependencies = Arc::new(spoor_query::dependencies::DependencyStore::new(
        args.retention.max(Duration::from_secs(3600)),
        DEPENDENCY_MAX_ENTRIES,
    ));
    // With encryption at rest the file (service names in plaintext) is not kept: the graph's
    // pairs inside blocks come back from the blocks after a restart (docs/security.md).
    let dependencies_file = (args.storage == StorageKind::Disk && !encrypted)
        .then(|| spoor_pipeline::connectors::dependencies_file::path(&args.data_dir));
    if let Some(path) = &dependencies_file
        && let Err(e) = spoor_pipeline::connectors::dependencies_file::load(path, &dependencies)
    {
        tracing::warn!(error = %e, "the service graph's dependencies start empty");
    }
    // The service graph sees every tenant's spans, so with tenancy on, dependencies come from each
    // tenant's own store only (its blocks' and head's links, without virtual nodes).
    let query = match tenancy {
        Some(_) => QueryService::new(reader),
        None => QueryService::new(reader).with_dependency_store(dependencies.clone()),
    };
    let monitor = std::sync::Arc::new(spoor_query::monitor::MonitorStore::new(
        args.monitor_step,
        args.monitor_window,
        MONITOR_MAX_SERIES,
    ));

    let tls = tls_settings(&args)
        .map(|t| spoor_api::ServerTls::new(&t))
        .transpose()
        .context("loading the --tls-* certificate")?;
    let reload_metrics = spoor_pipeline::extensions::ReloadMetrics::new(&telemetry);
    let authenticators = spoor_pipeline::extensions::authenticators(&config, &reload_metrics)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let auth_for = |flag: &str,
                    id: &Option<String>|
     -> anyhow::Result<Option<spoor_api::auth::Auth>> {
        let Some(id) = id else { return Ok(None) };
        match authenticators.get(id) {
            Some(auth) => Ok(Some(auth.clone())),
            None => anyhow::bail!(
                "--{flag} {id}: no such authenticator; define it under extensions (basicauth or bearertokenauth) and enable it in service.extensions"
            ),
        }
    };
    let query_auth = auth_for("query-auth", &args.query_auth)?;
    let admin_auth = auth_for("admin-auth", &args.admin_auth)?;
    let http = HttpListeners {
        shutdown: shutdown.clone(),
        limits: spoor_api::HttpLimits::default(),
        tls: tls.clone(),
        auth_metrics: spoor_api::auth::AuthMetrics::new(&telemetry),
        tenancy: tenancy.clone(),
    };
    use spoor_api::auth::Role;
    let mut servers: Vec<RunningServer> = Vec::new();
    if let Some(addr) = args.query_http.addr() {
        let options = spoor_api::QueryHttpOptions {
            cors: spoor_api::CorsOrigins::parse(&args.query_cors_allowed_origins)?,
            monitor: Some(monitor.clone()),
            telemetry: Some(telemetry.clone()),
        };
        let router = spoor_api::query_router(query.clone(), &options);
        servers.push(
            http.serve(
                "query-http",
                addr,
                router,
                Some(http.guard("query-http", query_auth.as_ref(), Role::Read)),
            )
            .await?,
        );
    }
    if let Some(addr) = args.tempo_http.addr() {
        let router = spoor_api::tempo_router(query.clone(), &telemetry);
        servers.push(
            http.serve(
                "tempo-http",
                addr,
                router,
                Some(http.guard("tempo-http", query_auth.as_ref(), Role::Read)),
            )
            .await?,
        );
    }
    if let Some(addr) = args.query_grpc.addr() {
        let routes = spoor_api::query_grpc_routes(query.clone());
        servers.push(
            spoor_api::serve_grpc_tls(
                "query-grpc",
                addr,
                routes,
                shutdown.clone(),
                tls.clone(),
                http.auth_metrics
                    .grpc(http.guard("query-grpc", query_auth.as_ref(), Role::Read)),
            )
            .await?,
        );
    }
    if let Some(addr) = args.admin_http.addr() {
        let purger = match (&engine, &tenant_stores) {
            (_, Some(stores)) => Some(Arc::new(crate::tenants::TenantPurger(stores.clone()))
                as Arc<dyn spoor_api::Purger>),
            (Some(e), None) => {
                Some(Arc::new(crate::tools::EnginePurger(e.clone())) as Arc<dyn spoor_api::Purger>)
            }
            (None, None) => None,
        };
        let router = spoor_api::admin_router_with(telemetry.clone(), readiness.clone(), purger);
        let mut guard = http.guard("admin-http", admin_auth.as_ref(), Role::Admin);
        guard.tenant_paths = Some("/api/admin/");
        servers.push(http.serve("admin-http", addr, router, Some(guard)).await?);
    }
    if let Some(addr) = health_endpoint(&args, explicit, &config)? {
        let router = spoor_api::health_router(readiness.clone());
        servers.push(http.serve("health-http", addr, router, None).await?);
    }

    if let Some((addr, config)) = zpages_endpoint(&config)? {
        let config = Arc::new(config);
        let router = axum::Router::new().route(
            "/debug/{page}",
            axum::routing::get(
                move |axum::extract::Path(page): axum::extract::Path<String>| {
                    let config = config.clone();
                    async move {
                        match spoor_pipeline::extensions::zpage(&config, &page) {
                            Some(text) => (axum::http::StatusCode::OK, text),
                            None => (
                                axum::http::StatusCode::NOT_FOUND,
                                "pages: /debug/servicez, /debug/pipelinez, /debug/extensionz\n"
                                    .to_string(),
                            ),
                        }
                    }
                },
            ),
        );
        servers.push(http.serve("zpages", addr, router, None).await?);
    }
    if let Some(addr) = pprof_endpoint(&config)? {
        let router = spoor_pipeline::extensions::pprof_router(&telemetry);
        servers.push(http.serve("pprof", addr, router, None).await?);
    }
    let sampling_extension = sampling_extension(&config);
    let sampling_config = match &sampling_extension {
        Some(e) if !explicit.iter().any(|f| f == "sampling_strategies") => {
            spoor_receivers::sampling::SamplingConfig {
                strategies_file: (!e.source.file.is_empty()).then(|| e.source.file.clone().into()),
                adaptive: e.adaptive.clone(),
                reload_interval: e.source.reload_interval.0,
                default_sampling_probability: args.sampling_default_probability,
                ..Default::default()
            }
        }
        _ => spoor_receivers::sampling::SamplingConfig {
            strategies_file: args.sampling_strategies.clone(),
            reload_interval: args.sampling_reload_interval,
            default_sampling_probability: args.sampling_default_probability,
            ..Default::default()
        },
    };
    // Adaptive sampling learns from what the store takes and keeps its state in the data dir.
    let sampling_config = spoor_receivers::sampling::SamplingConfig {
        adaptive: args
            .sampling_adaptive
            .clone()
            .or(sampling_config.adaptive.clone()),
        // Not kept with encryption at rest (service and operation names in plaintext).
        adaptive_state_file: (args.storage == StorageKind::Disk && !args.read_only && !encrypted)
            .then(|| spoor_receivers::sampling::adaptive::state_path(&args.data_dir)),
        ..sampling_config
    };
    let sampling = spoor_receivers::sampling::StrategyStore::load(sampling_config, &telemetry)
        .context("loading the sampling strategies")?;
    sampling.spawn_reloader(shutdown.clone());
    sampling.spawn_adaptive(shutdown.clone());
    let store: Arc<dyn TraceSink> = Arc::new(spoor_receivers::sampling::ObservingSink::new(
        Arc::new(StoreSink::new(writer, args.max_in_flight_spans, &telemetry)),
        sampling.clone(),
    ));
    let sampling = Some(sampling);
    let build = BuildContext {
        telemetry: telemetry.clone(),
        shutdown: shutdown.clone(),
        store: Some(store),
        memory: Some(memory.clone()),
        monitor: Some(monitor.clone()),
        dependencies: Some(dependencies.clone()),
        tenant_header: tenancy.as_ref().map(|t| t.header().to_string()),
    };
    let dependencies_saver = dependencies_file
        .clone()
        .filter(|_| !args.read_only)
        .map(|path| {
            spoor_pipeline::connectors::dependencies_file::spawn_saver(
                dependencies.clone(),
                path,
                Duration::from_secs(5),
                shutdown.clone(),
            )
        });
    let graph = Graph::build(&config, &build).context("assembling the pipelines")?;
    let mut receivers: Vec<RunningReceiver> = Vec::new();
    let mut defaults = listener_defaults(&args);
    defaults.authenticators = authenticators.clone();
    // A read-only process only answers queries.
    let receiving = if args.read_only {
        tracing::info!("read-only: no receivers are started");
        &[][..]
    } else {
        &graph.receivers[..]
    };
    // Zipkin's v2 reads, served on the Zipkin receiver's port.
    let zipkin_routes = spoor_api::zipkin_router(query.clone(), &telemetry);
    for (id, sink) in receiving {
        let Some(component) = config.component(Kind::Receiver, id) else {
            continue;
        };
        let ctx = ReceiverContext {
            sink: sink.clone(),
            signals: graph.signal_sinks(id),
            telemetry: telemetry.clone(),
            shutdown: shutdown.clone(),
            memory: memory.clone(),
            sampling: sampling.clone(),
            zipkin_routes: Some(zipkin_routes.clone()),
            tenancy: tenancy.clone(),
        };
        for listener in listeners(&component.spec, &defaults) {
            let running = listener
                .build(ctx.clone())
                .await
                .with_context(|| format!("starting receiver {id} ({})", listener.name()))?;
            receivers.push(running);
        }
    }

    let (http_addr, grpc_addr) = sampling_endpoints(&args, explicit, sampling_extension.as_ref())?;
    if let Some(store) = &sampling {
        let ctx = ReceiverContext {
            sink: Arc::new(spoor_receivers::sampling::NoSpans),
            telemetry: telemetry.clone(),
            shutdown: shutdown.clone(),
            memory: memory.clone(),
            sampling: None,
            signals: Default::default(),
            zipkin_routes: None,
            // With tenancy on, a sampling client names its tenant as an ingest client does.
            tenancy: tenancy.clone(),
        };
        if let Some(addr) = http_addr {
            let http = spoor_receivers::sampling::SamplingHttpConfig {
                endpoint: addr,
                connections: defaults.connections.clone(),
            };
            let running = http
                .serve(&ctx, store.clone())
                .await
                .context("starting the sampling endpoint")?;
            receivers.push(running);
        }
        // A Jaeger gRPC receiver on the same port already serves SamplingManager.
        if let Some(addr) = grpc_addr.filter(|a| {
            !receivers.iter().any(|r| {
                r.name == spoor_receivers::JaegerGrpcConfig::NAME
                    && r.local_addr.port() == a.port()
                    && (r.local_addr.ip().is_unspecified() || r.local_addr.ip() == a.ip())
            })
        }) {
            let grpc = spoor_receivers::sampling::SamplingGrpcConfig {
                endpoint: addr,
                connections: defaults.connections.clone(),
            };
            let running = grpc
                .serve(&ctx, store.clone())
                .await
                .context("starting the sampling gRPC endpoint")?;
            receivers.push(running);
        }
    }

    for s in &servers {
        tracing::info!(listener = %s.name, addr = %s.local_addr, "listening");
    }
    for r in &receivers {
        tracing::info!(listener = %r.name, addr = %r.local_addr, "listening");
    }
    readiness.set_ready(true);
    tracing::info!("spoor is ready");

    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections, draining");
    readiness.set_ready(false);
    shutdown.cancel();
    let drain = async {
        for r in receivers {
            r.join().await;
        }
        for s in servers {
            s.join().await;
        }
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "listeners did not drain in time");
    }
    if !graph.drain(DRAIN_TIMEOUT).await {
        tracing::warn!(timeout = ?DRAIN_TIMEOUT, "exporter queues did not drain in time");
    }
    if let (Some(saver), Some(path)) = (dependencies_saver, &dependencies_file) {
        let _ = saver.await;
        if let Err(e) = spoor_pipeline::connectors::dependencies_file::save(path, &dependencies) {
            tracing::warn!(error = %e, "saving the service graph's dependencies");
        }
    }
    if let Some(engine) = engine {
        engine.shutdown().await.context("closing the store")?;
    }
    if let Some(stores) = tenant_stores {
        stores
            .shutdown()
            .await
            .context("closing the tenants' stores")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The tenancy the `--tenancy-*` flags ask for (`None`: off).
fn tenancy(
    args: &RunArgs,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<Arc<spoor_api::auth::Tenancy>>> {
    if !args.tenancy_enabled {
        if args.tenant_max_bytes.is_some() {
            anyhow::bail!("--tenant-max-bytes needs --tenancy-enabled");
        }
        return Ok(None);
    }
    let settings = spoor_api::auth::TenancySettings {
        header: args.tenancy_header.clone(),
        allowed: args.tenants.clone(),
        ingest_rate: args.tenant_ingest_rate,
    };
    spoor_api::auth::Tenancy::new(&settings, telemetry)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The process memory limit that the receivers' gate and the engine's head budget follow: the
/// flag when given; else the tightest soft limit (`limit - spike`) of the config's
/// `memory_limiter`s, so data is refused before it is read rather than after it was decoded;
/// else the flag's default (80 % of the machine's memory). Like the memory_limiter's own check,
/// the gate compares the whole process's RSS with it; the engine's head takes its share of it
/// after a reserve for the rest of the process (`EngineConfig::memory_limit`), so a 512 MiB
/// memory_limiter still cuts full-size blocks.
fn process_memory_limit(
    args: &RunArgs,
    explicit: &[String],
    config: &spoor_pipeline::config::Config,
) -> Option<u64> {
    if explicit.iter().any(|f| f == "memory_limit") {
        return args.memory_limit.bytes();
    }
    let total = spoor_telemetry::available_memory().unwrap_or(u64::MAX);
    let soft = config
        .processors
        .iter()
        .filter_map(|c| match &c.spec {
            Spec::MemoryLimiter(m) => Some(m.limits(total).1),
            _ => None,
        })
        .filter(|soft| *soft > 0)
        .min();
    match soft {
        Some(soft) => {
            tracing::info!(
                limit_bytes = soft,
                "memory limit from the config's memory_limiter (limit - spike)"
            );
            Some(soft)
        }
        None => args.memory_limit.bytes(),
    }
}

/// The `jaeger_remote_sampling` extension, when the config enables it.
fn sampling_extension(
    config: &spoor_pipeline::config::Config,
) -> Option<spoor_pipeline::extensions::JaegerRemoteSamplingConfig> {
    config.service.extensions.iter().find_map(|id| {
        match &config.component(Kind::Extension, id)?.spec {
            Spec::JaegerRemoteSampling(e) => Some(e.clone()),
            _ => None,
        }
    })
}

/// Where remote sampling is served (HTTP, and gRPC apart from the Jaeger receiver's port): the
/// `--sampling-http` flag without a config file or when given explicitly, else the
/// `jaeger_remote_sampling` extension's listeners; a config file without it serves none.
fn sampling_endpoints(
    args: &RunArgs,
    explicit: &[String],
    extension: Option<&spoor_pipeline::extensions::JaegerRemoteSamplingConfig>,
) -> anyhow::Result<(Option<std::net::SocketAddr>, Option<std::net::SocketAddr>)> {
    let resolve = |name: &str, endpoint: &str| -> anyhow::Result<Option<std::net::SocketAddr>> {
        if endpoint.is_empty() {
            return Ok(None);
        }
        resolve_endpoint(endpoint)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("extensions.jaeger_remote_sampling.{name}.endpoint: {e}"))
    };
    let mut http = None;
    let mut grpc = None;
    if let Some(e) = extension {
        http = resolve("http", &e.http.endpoint)?;
        grpc = resolve("grpc", &e.grpc.endpoint)?;
    }
    if args.config.is_empty() || explicit.iter().any(|f| f == "sampling_http") {
        http = args.sampling_http.addr();
    }
    Ok((http, grpc))
}

/// Where the health check listens: the flag without a config file (or when given explicitly),
/// else the `health_check` extension if the config enables it.
fn health_endpoint(
    args: &RunArgs,
    explicit: &[String],
    config: &spoor_pipeline::config::Config,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    if args.config.is_empty() || explicit.iter().any(|f| f == "health_http") {
        return Ok(args.health_http.addr());
    }
    for id in &config.service.extensions {
        if let Some(c) = config.component(Kind::Extension, id)
            && let Spec::HealthCheck(h) = &c.spec
        {
            return resolve_endpoint(&h.endpoint)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("extensions.{id}.endpoint: {e}"));
        }
    }
    Ok(None)
}

/// The `zpages` extension's address, if the config enables it.
fn zpages_endpoint(
    config: &spoor_pipeline::config::Config,
) -> anyhow::Result<Option<(std::net::SocketAddr, spoor_pipeline::config::Config)>> {
    for id in &config.service.extensions {
        if let Some(c) = config.component(Kind::Extension, id)
            && let Spec::Zpages(z) = &c.spec
        {
            let addr = resolve_endpoint(&z.endpoint)
                .map_err(|e| anyhow::anyhow!("extensions.{id}.endpoint: {e}"))?;
            return Ok(Some((addr, config.clone())));
        }
    }
    Ok(None)
}

/// The `pprof` extension's address, if the config enables it.
fn pprof_endpoint(
    config: &spoor_pipeline::config::Config,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    for id in &config.service.extensions {
        if let Some(c) = config.component(Kind::Extension, id)
            && let Spec::Pprof(p) = &c.spec
        {
            let addr = resolve_endpoint(&p.endpoint)
                .map_err(|e| anyhow::anyhow!("extensions.{id}.endpoint: {e}"))?;
            return Ok(Some(addr));
        }
    }
    Ok(None)
}

/// The engine settings the flags ask for.
pub fn engine_config(args: &RunArgs) -> EngineConfig {
    let cluster_role = args.clone().resolve_roles().unwrap_or_default();
    EngineConfig {
        cluster_role,
        node_id: args.node_id(),
        lease_ttl: args.lease_ttl,
        data_dir: args.data_dir.clone(),
        storage_url: args.storage_url.clone(),
        storage_options: args
            .storage_options
            .iter()
            .cloned()
            .chain(args.encryption.sse_options())
            .collect(),
        orphan_grace: args.orphan_grace,
        memory_limit: args.memory_limit.bytes(),
        wal_fsync: match args.wal_fsync {
            WalFsync::Always => FsyncPolicy::Always,
            WalFsync::Interval => FsyncPolicy::Interval(args.wal_fsync_interval),
            WalFsync::Never => FsyncPolicy::Never,
        },
        retention: args.retention,
        block_cut_interval: args.block_cut_interval,
        read_only: args.read_only,
        manifest_poll_interval: args.manifest_poll_interval,
        ..EngineConfig::default()
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = int.recv() => tracing::info!("received SIGINT"),
    }
    Ok(())
}
