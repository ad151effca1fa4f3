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
