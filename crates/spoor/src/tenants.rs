//! Storage per tenant (`--tenancy-enabled`): one store per tenant, the engine under
//! `DATA_DIR/tenants/<tenant>/` (its blocks under `<storage-url>/tenants/<tenant>` with an
//! object store) or a memory store, opened on first use, at most `--tenancy-max-tenants`.
//!
//! Writes are routed by the reserved resource attribute `spoor.tenant` the receivers stamp
//! (removed before storing); reads, and the admin port's deletes, by the tenant of the request
//! being handled (`spoor_receivers::tenant::current`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use spoor_engine::{Engine, EngineConfig};
use spoor_model::{ResourceSpans, TraceId};
use spoor_receivers::tenant;
use spoor_storage::{
    DependencyLink, MemoryStore, Operation, OperationQuery, ScanRequest, SpanReader, SpanWriter,
    StorageError, TimeRange, Trace,
};
use spoor_telemetry::Telemetry;
use spoor_telemetry::metrics::counter::Counter;
use spoor_telemetry::metrics::family::Family;
use spoor_telemetry::metrics::gauge::Gauge;

/// How long a tenant's measured size is reused before it is measured again.
const USAGE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

type Labels = Vec<(String, String)>;

/// How a tenant's store is made.
pub enum Backend {
    Memory { max_traces: usize },
    Disk { config: Box<EngineConfig> },
}

/// One tenant's store.
#[derive(Clone)]
enum Store {
    Memory(Arc<MemoryStore>),
    Disk(Arc<Engine>),
}

impl Store {
    fn reader(&self) -> &dyn SpanReader {
        match self {
            Store::Memory(m) => m.as_ref(),
            Store::Disk(e) => e.as_ref(),
        }
    }

    fn writer(&self) -> &dyn SpanWriter {
        match self {
            Store::Memory(m) => m.as_ref(),
            Store::Disk(e) => e.as_ref(),
        }
    }
}

/// The engine settings of one tenant: its own directory and object-store prefix.
pub fn tenant_config(base: &EngineConfig, tenant: &str) -> EngineConfig {
    EngineConfig {
        data_dir: base.data_dir.join("tenants").join(tenant),
        storage_url: base
            .storage_url
            .as_ref()
            .map(|u| format!("{}/tenants/{tenant}", u.trim_end_matches('/'))),
        ..base.clone()
    }
}

/// The stores of every tenant.
pub struct TenantStores {
    backend: Backend,
    max_tenants: usize,
    stores: tokio::sync::Mutex<HashMap<String, Store>>,
    /// `--tenant-max-bytes`: a tenant whose disk store holds this much takes no more spans; a
    /// tenant's memory store evicts its oldest traces beyond it.
    max_bytes: Option<u64>,
    /// Each tenant's last measured size and when it was measured.
    usage: std::sync::Mutex<HashMap<String, (std::time::Instant, u64)>>,
    stored_bytes: Family<Labels, Gauge>,
    full: Family<Labels, Counter>,
}

impl TenantStores {
    /// Registers `spoor_tenant_stored_bytes{tenant}` and
    /// `spoor_tenant_storage_full_total{tenant}` on `telemetry`.
    pub fn new(
        backend: Backend,
        max_tenants: usize,
        max_bytes: Option<u64>,
        telemetry: &Telemetry,
    ) -> Self {
        let stored_bytes = Family::<Labels, Gauge>::default();
        telemetry.register(
            "tenant_stored_bytes",
            "Bytes of each tenant's disk store (blocks and WAL), as last measured for --tenant-max-bytes",
            stored_bytes.clone(),
        );
        let full = Family::<Labels, Counter>::default();
        telemetry.register(
            "tenant_storage_full",
            "Write requests refused because the tenant's store reached --tenant-max-bytes",
            full.clone(),
        );
        Self {
            backend,
            max_tenants,
            stores: tokio::sync::Mutex::new(HashMap::new()),
            max_bytes,
            usage: std::sync::Mutex::new(HashMap::new()),
            stored_bytes,
            full,
        }
    }

    /// The bytes a tenant's disk store holds: its blocks (from the manifest) and its WAL
    /// segments; measured at most once per [`USAGE_TTL`].
    async fn disk_bytes(&self, tenant: &str, engine: &Engine) -> u64 {
        if let Some((at, bytes)) = self.usage_map().get(tenant)
            && at.elapsed() < USAGE_TTL
        {
            return *bytes;
        }
        let blocks: u64 = engine.manifest().blocks.iter().map(|b| b.size_bytes).sum();
        let wal = match &self.backend {
            Backend::Disk { config } => tenant_config(config, tenant).data_dir.join("wal"),
            Backend::Memory { .. } => return 0,
        };
        let wal = tokio::task::spawn_blocking(move || dir_bytes(&wal))
            .await
            .unwrap_or(0);
        let bytes = blocks + wal;
        self.usage_map()
            .insert(tenant.to_string(), (std::time::Instant::now(), bytes));
        self.report_stored(tenant, bytes);
        bytes
    }

    /// Sets `spoor_tenant_stored_bytes{tenant}`.
    fn report_stored(&self, tenant: &str, bytes: u64) {
        self.stored_bytes
            .get_or_create(&vec![("tenant".to_string(), tenant.to_string())])
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    fn usage_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (std::time::Instant, u64)>> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses (and counts) a write to a tenant whose store reached `--tenant-max-bytes`.
    async fn check_room(&self, tenant: &str, store: &Store) -> Result<(), StorageError> {
        let Some(max) = self.max_bytes else {
            return Ok(());
        };
        let engine = match store {
            Store::Disk(engine) => engine,
            // A memory store counts its spans as they are written and evicts its oldest
            // traces beyond the limit instead of refusing.
            Store::Memory(memory) => {
                self.report_stored(tenant, memory.stored_bytes());
                return Ok(());
            }
        };
        let used = self.disk_bytes(tenant, engine).await;
        if used < max {
            return Ok(());
        }
        self.full
            .get_or_create(&vec![("tenant".to_string(), tenant.to_string())])
            .inc();
        Err(StorageError::Full(format!(
            "tenant {tenant:?} stores {used} bytes, at its limit of {max} (--tenant-max-bytes); retention frees room"
        )))
    }

    /// The tenant's store; created when `create`, else opened only when it exists on disk.
    async fn store(&self, tenant: &str, create: bool) -> Result<Option<Store>, StorageError> {
        if !tenant::valid_name(tenant) {
            return Err(StorageError::InvalidQuery(format!(
                "invalid tenant name {tenant:?}"
            )));
        }
        let mut stores = self.stores.lock().await;
        if let Some(store) = stores.get(tenant) {
            return Ok(Some(store.clone()));
        }
        let exists = match &self.backend {
            Backend::Memory { .. } => false,
            Backend::Disk { config } => tenant_config(config, tenant).data_dir.exists(),
        };
        if !create && !exists {
            return Ok(None);
        }
        if stores.len() >= self.max_tenants {
            return Err(StorageError::Full(format!(
                "tenant {tenant:?} would exceed --tenancy-max-tenants {}",
                self.max_tenants
            )));
        }
        let store = match &self.backend {
            Backend::Memory { max_traces } => Store::Memory(Arc::new(
                MemoryStore::new(*max_traces).with_max_bytes(self.max_bytes),
            )),
            Backend::Disk { config } => {
                // The engine's own metrics of a tenant are not exported (one registry would
                // repeat every family); the receivers' and pipeline's counters are.
                let engine = Engine::open(tenant_config(config, tenant), &Telemetry::new()).await?;
                tracing::info!(tenant, "opened the tenant's store");
                Store::Disk(Arc::new(engine))
            }
        };
        stores.insert(tenant.to_string(), store.clone());
        Ok(Some(store))
    }

    /// The store of the request being handled (`None`: the tenant has stored nothing yet).
    async fn current(&self) -> Result<Option<Store>, StorageError> {
        let Some(scope) = tenant::current() else {
            return Err(StorageError::InvalidQuery(
                "no tenant: tenancy is on and the request named none".to_string(),
            ));
        };
        self.store(&scope.tenant, false).await
    }

    /// The engine of the request's tenant, for deletes.
    pub async fn current_engine(&self) -> Result<Option<Arc<Engine>>, StorageError> {
        Ok(match self.current().await? {
            Some(Store::Disk(e)) => Some(e),
            _ => None,
        })
    }

    /// Closes every tenant's engine.
    pub async fn shutdown(&self) -> Result<(), StorageError> {
        let stores: Vec<Store> = self.stores.lock().await.drain().map(|(_, s)| s).collect();
        let mut result = Ok(());
        for store in stores {
            if let Store::Disk(engine) = store
                && let Err(e) = engine.shutdown().await
            {
                result = Err(e);
            }
        }
        result
    }
}

#[async_trait::async_trait]
impl SpanWriter for TenantStores {
    async fn write(&self, batch: Vec<ResourceSpans>) -> Result<(), StorageError> {
        let mut by_tenant: HashMap<String, Vec<ResourceSpans>> = HashMap::new();
        for mut rs in batch {
            let Some(t) = tenant::take(&mut rs) else {
                return Err(StorageError::InvalidQuery(
                    "spans without a tenant: tenancy is on (UDP receivers cannot name one)"
                        .to_string(),
                ));
            };
            by_tenant.entry(t).or_default().push(rs);
        }
        // Every tenant's room first, so a refused batch writes nothing.
        let mut writes = Vec::with_capacity(by_tenant.len());
        for (t, batch) in by_tenant {
            if let Some(store) = self.store(&t, true).await? {
                self.check_room(&t, &store).await?;
                writes.push((store, batch));
            }
        }
        for (store, batch) in writes {
            store.writer().write(batch).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SpanReader for TenantStores {
    async fn get_trace(
        &self,
        id: TraceId,
        window: Option<TimeRange>,
    ) -> Result<Option<Trace>, StorageError> {
        match self.current().await? {
            Some(s) => s.reader().get_trace(id, window).await,
            None => Ok(None),
        }
    }

    async fn get_services(&self) -> Result<Vec<String>, StorageError> {
        match self.current().await? {
            Some(s) => s.reader().get_services().await,
            None => Ok(Vec::new()),
        }
    }

    async fn get_operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        match self.current().await? {
            Some(s) => s.reader().get_operations(query).await,
            None => Ok(Vec::new()),
        }
    }

    async fn scan(&self, query: &ScanRequest) -> Result<Vec<Trace>, StorageError> {
        match self.current().await? {
            Some(s) => s.reader().scan(query).await,
            None => Ok(Vec::new()),
        }
    }

    async fn scan_ids(&self, query: &ScanRequest) -> Result<Vec<TraceId>, StorageError> {
        match self.current().await? {
            Some(s) => s.reader().scan_ids(query).await,
            None => Ok(Vec::new()),
        }
    }

    async fn get_dependencies(
        &self,
        end_unix_nano: u64,
        lookback_nanos: u64,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        match self.current().await? {
            Some(s) => {
                s.reader()
                    .get_dependencies(end_unix_nano, lookback_nanos)
                    .await
            }
            None => Ok(Vec::new()),
        }
    }
}

/// The bytes of the files under `dir`, recursively (0 when it cannot be read).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `POST /api/admin/delete` on the request's tenant's engine.
pub struct TenantPurger(pub Arc<TenantStores>);

impl spoor_api::Purger for TenantPurger {
    fn delete(
        &self,
        request: spoor_api::DeleteRequest,
    ) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, StorageError>> + Send + '_>> {
        Box::pin(async move {
            match self.0.current_engine().await? {
                Some(engine) => crate::tools::EnginePurger(engine).delete(request).await,
                None => Ok(serde_json::json!({"spans_deleted": 0})),
            }
        })
    }
}
