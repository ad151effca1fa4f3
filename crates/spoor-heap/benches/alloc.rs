//! The allocation path's cost: one 64-byte allocation and free through mimalloc (the binary's
//! allocator) and the system allocator alone, through `Sampled` around each before `enable`
//! (what every Spoor without the pprof extension pays), and through `Sampled` while sampling
//! every 512 KiB.
//!
//! `cargo bench -p spoor-heap`

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;

static SAMPLED_SYSTEM: spoor_heap::Sampled<System> = spoor_heap::Sampled::new(System);
static SAMPLED_MIMALLOC: spoor_heap::Sampled<MiMalloc> = spoor_heap::Sampled::new(MiMalloc);

fn round_trip<A: GlobalAlloc>(a: &A, layout: Layout) {
    // SAFETY: the pointer comes from this allocator with this layout and is freed once.
    unsafe {
        let p = a.alloc(layout);
        black_box(p);
        if !p.is_null() {
            a.dealloc(p, layout);
        }
    }
}

fn alloc(c: &mut Criterion) {
    let layout = Layout::from_size_align(64, 8).unwrap_or(Layout::new::<[u64; 8]>());
    let mut g = c.benchmark_group("alloc_free_64B");
    g.bench_function("mimalloc", |b| b.iter(|| round_trip(&MiMalloc, layout)));
    g.bench_function("mimalloc_sampled_off", |b| {
        b.iter(|| round_trip(&SAMPLED_MIMALLOC, layout))
    });
    g.bench_function("system", |b| b.iter(|| round_trip(&System, layout)));
    g.bench_function("system_sampled_off", |b| {
        b.iter(|| round_trip(&SAMPLED_SYSTEM, layout))
    });
    // `enable` answers false here (this bench's global allocator is not `Sampled`), but turns
    // sampling on for both wrappers.
    let _ = spoor_heap::enable(spoor_heap::DEFAULT_SAMPLE_BYTES);
    g.bench_function("mimalloc_sampled_on", |b| {
        b.iter(|| round_trip(&SAMPLED_MIMALLOC, layout))
    });
    g.bench_function("system_sampled_on", |b| {
        b.iter(|| round_trip(&SAMPLED_SYSTEM, layout))
    });
    g.finish();
}

criterion_group!(benches, alloc);
criterion_main!(benches);
