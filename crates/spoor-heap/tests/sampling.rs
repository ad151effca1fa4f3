//! The sampler as the global allocator of this test binary: what it reports matches what was
//! allocated and freed.

use std::hint::black_box;

#[global_allocator]
static GLOBAL: spoor_heap::Sampled<std::alloc::System> =
    spoor_heap::Sampled::new(std::alloc::System);

#[inline(never)]
fn allocate_kept(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| black_box(vec![1u8; size])).collect()
}

fn inuse(sites: &[spoor_heap::Site]) -> f64 {
    sites.iter().map(|s| s.inuse_bytes).sum()
}

fn allocated(sites: &[spoor_heap::Site]) -> f64 {
    sites.iter().map(|s| s.alloc_bytes).sum()
}

/// Both checks in one test: the figures are process-wide, a concurrent test would blur them.
#[test]
fn sampling() {
    estimates_live_and_allocated_bytes_and_forgets_frees();
    resolves_frames_to_function_names();
}

fn estimates_live_and_allocated_bytes_and_forgets_frees() {
    assert!(
        spoor_heap::enable(64 * 1024),
        "the sampler is this binary's allocator"
    );
    let before = spoor_heap::snapshot();
    // 64 MiB in 4 KiB pieces: about 1,000 samples at one per 64 KiB.
    let kept = allocate_kept(16 * 1024, 4096);
    let after = spoor_heap::snapshot();
    let live = inuse(&after) - inuse(&before);
    let want = 64.0 * 1024.0 * 1024.0;
    assert!((live - want).abs() < want * 0.25, "in use {live} vs {want}");
    // The samples name the function that allocated.
    let frames: usize = after.iter().map(|s| s.frames.len()).sum();
    assert!(frames > after.len(), "backtraces recorded");
    drop(kept);
    let freed = spoor_heap::snapshot();
    let left = inuse(&freed) - inuse(&before);
    assert!(left < want * 0.05, "freed memory still in use: {left}");
    assert!(
        allocated(&freed) - allocated(&before) > want * 0.75,
        "allocated totals stay"
    );
}

fn resolves_frames_to_function_names() {
    assert!(spoor_heap::enable(64 * 1024));
    let kept = allocate_kept(4096, 4096);
    let sites = spoor_heap::snapshot();
    let names: Vec<String> = sites
        .iter()
        .flat_map(|s| s.frames.iter())
        .flat_map(|ip| spoor_heap::resolve(*ip))
        .filter(|f| !spoor_heap::is_profiler_frame(f))
        .map(|f| f.function)
        .collect();
    drop(kept);
    assert!(
        names.iter().any(|n| n.contains("allocate_kept")),
        "{names:?}"
    );
}
