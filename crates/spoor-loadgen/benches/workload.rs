//! Workload generation and OTLP encoding throughput (spans/s), on the standard workload.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use spoor_loadgen::Workload;

const BATCH: usize = 1000;

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("workload");
    // Spans per batch vary with trace sizes; measure on a fixed sample to report spans/s.
    let mut probe = Workload::new(1);
    let spans: usize = (0..20).map(|_| probe.next_batch(BATCH).1).sum::<usize>() / 20;
    group.throughput(Throughput::Elements(spans as u64));
    let mut w = Workload::new(1);
    group.bench_function("generate_batch_1000", |b| {
        b.iter(|| w.next_batch(BATCH));
    });
    let mut w = Workload::new(2);
    group.bench_function("generate_and_encode_batch_1000", |b| {
        b.iter(|| w.next_batch(BATCH).0.encode_to_vec());
    });
    let request = Workload::new(3).next_batch(BATCH).0;
    let n = spoor_model::span_count(&request.resource_spans);
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("encode_batch_1000", |b| {
        b.iter(|| request.encode_to_vec());
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
