use std::sync::Arc;

use object_store::memory::InMemory;

use super::*;

fn block(id: &str) -> BlockMeta {
    BlockMeta {
        id: id.to_string(),
        level: 0,
        size_bytes: 1,
        crc32c: 0,
        span_count: 1,
        trace_count: 1,
        min_start: 1,
        max_start: 1,
        min_trace_id: String::new(),
        max_trace_id: String::new(),
        services: vec![],
        operations: vec![],
        dependencies: vec![],
        created_at: 0,
        wal_seq: 0,
        inputs: vec![],
    }
}

fn root(store: Arc<dyn ObjectStore>) -> ManifestStore {
    ManifestStore {
        store,
        prefix: Path::from("p"),
        local: None,
        log: None,
        keys: Arc::default(),
    }
}

#[tokio::test]
async fn the_view_is_every_node_log_minus_the_compactors_tombstones() {
    let r = root(Arc::new(InMemory::new()));
    for (node, ids) in [("a", ["a1", "a2"]), ("b", ["b1", "b2"])] {
        commit_log(&r.with_log(Some(node_log(node))), |m| {
            m.blocks.extend(ids.iter().map(|id| block(id)));
        })
        .await
        .expect("node commit");
    }
    let view = load_view(&r).await.expect("view");
    let ids: Vec<&str> = view.blocks.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, vec!["a1", "a2", "b1", "b2"]);
    // The compactor merges a2 and b1 into c1.
    commit_log(&r.with_log(Some(COMPACTOR_LOG.into())), |m| {
        m.blocks.push(block("c1"));
        for id in ["a2", "b1"] {
            m.superseded.push(Tombstone {
                id: id.into(),
                at: 0,
            });
        }
    })
    .await
    .expect("compactor commit");
    let next = load_view(&r).await.expect("view");
    let ids: Vec<&str> = next.blocks.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, vec!["a1", "b2", "c1"]);
    assert!(next.version > view.version, "the view's version grows");
}

#[tokio::test]
async fn one_holder_at_a_time_and_a_takeover_after_the_ttl() {
    let s: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let ttl = Duration::from_millis(300);
    let a = Lease::new(&Path::from("p"), "a", ttl);
    let b = Lease::new(&Path::from("p"), "b", ttl);
    assert!(a.try_hold(s.as_ref()).await.expect("a takes"));
    assert!(!b.try_hold(s.as_ref()).await.expect("b waits"));
    assert!(a.try_hold(s.as_ref()).await.expect("a renews"));
    assert!(a.held() && !b.held());
    // a stops renewing.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert!(!a.held(), "a's own view of the lease expired too");
    assert!(b.try_hold(s.as_ref()).await.expect("b takes over"));
    assert!(!a.try_hold(s.as_ref()).await.expect("a lost it"));
}

#[test]
fn node_ids_are_path_safe() {
    assert!(check_node_id("ingest-0.spoor_x").is_ok());
    for bad in ["", "a/b", "..", "a b", "é"] {
        assert!(check_node_id(bad).is_err(), "{bad:?}");
    }
}

/// A store that accepts `PutMode::Create`/`Update` and overwrites anyway, as Garage 2.5 does
/// (its PutObject ignores `If-None-Match` and `If-Match`). The first two writes of the lease
/// wait for each other, so two takers both read it free before either writes.
#[derive(Debug)]
struct IgnoresConditions {
    inner: InMemory,
    lease_writes: std::sync::atomic::AtomicUsize,
    together: tokio::sync::Barrier,
}

impl IgnoresConditions {
    fn new() -> IgnoresConditions {
        IgnoresConditions {
            inner: InMemory::new(),
            lease_writes: std::sync::atomic::AtomicUsize::new(0),
            together: tokio::sync::Barrier::new(2),
        }
    }
}

impl std::fmt::Display for IgnoresConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IgnoresConditions")
    }
}

#[async_trait::async_trait]
impl ObjectStore for IgnoresConditions {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        let opts = PutOptions {
            mode: PutMode::Overwrite,
            ..opts
        };
        if location.as_ref().ends_with("compactor.json")
            && self.lease_writes.fetch_add(1, Ordering::SeqCst) < 2
        {
            self.together.wait().await;
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[tokio::test]
async fn on_a_store_that_ignores_conditions_two_takers_at_once_get_one_holder() {
    let s: Arc<dyn ObjectStore> = Arc::new(IgnoresConditions::new());
    let ttl = Duration::from_millis(1000);
    let a = Lease::new(&Path::from("p"), "a", ttl);
    let b = Lease::new(&Path::from("p"), "b", ttl);
    // Both find the lease free and write it at once; the store lets both writes through, and
    // each taker would believe it holds the lease without reading it back.
    let (ha, hb) = tokio::join!(a.try_hold(s.as_ref()), b.try_hold(s.as_ref()));
    let (ha, hb) = (ha.expect("a"), hb.expect("b"));
    assert!(ha ^ hb, "exactly one holder, got a={ha} b={hb}");
    assert_eq!(
        *a.conditional.lock(),
        Some(false),
        "the probe saw the overwrite"
    );
    let (holder, other) = if ha { (&a, &b) } else { (&b, &a) };
    assert!(holder.held() && !other.held());
    assert!(holder.try_hold(s.as_ref()).await.expect("renews"));
    assert!(!other.try_hold(s.as_ref()).await.expect("still waits"));
    // The holder stops renewing: the other takes over after the TTL.
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert!(other.try_hold(s.as_ref()).await.expect("takes over"));
    assert!(!holder.try_hold(s.as_ref()).await.expect("lost it"));
    // The probe objects are gone.
    let left: Vec<_> =
        futures::TryStreamExt::try_collect::<Vec<_>>(s.list(Some(&Path::from("p/lease"))))
            .await
            .expect("list");
    assert_eq!(left.len(), 1, "only lease/compactor.json: {left:?}");
}

#[tokio::test]
async fn a_store_with_conditional_writes_is_probed_as_such() {
    let s: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let a = Lease::new(&Path::from("p"), "a", Duration::from_millis(300));
    assert!(a.try_hold(s.as_ref()).await.expect("a takes"));
    assert_eq!(*a.conditional.lock(), Some(true));
}
