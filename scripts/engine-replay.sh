#!/usr/bin/env bash
# Ad hoc figure for issue 11 (WAL replay): ingest 8 s, kill -9, time the restart to "ready"; prints WAL MiB and s/GiB.
# usage: scripts/engine-replay.sh SPOOR_BIN   (load generator: $LOADGEN, default /work/bin/main-release/spoor)
bin=$1; d=$(mktemp -d /tmp/mem-replay.XXXX)
args="--storage disk --data-dir $d/data --block-cut-interval 10m --memory-limit off --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --query-http 127.0.0.1:0 --query-grpc 127.0.0.1:0 --admin-http 127.0.0.1:0 --zipkin 127.0.0.1:0 --jaeger-grpc 127.0.0.1:0 --jaeger-thrift-http 127.0.0.1:0 --jaeger-thrift-compact 127.0.0.1:0 --jaeger-thrift-binary 127.0.0.1:0"
$bin $args > $d/log1 2>&1 & pid=$!
for i in $(seq 100); do grep -q "spoor is ready" $d/log1 && break; sleep 0.1; done
grpc=$(grep -o 'otlp-grpc[^0-9]*[0-9.]*:[0-9]*' $d/log1 | grep -o '127.0.0.1:[0-9]*' | head -1)
${LOADGEN:-/work/bin/main-release/spoor} loadgen --otlp-grpc $grpc --duration 8s --concurrency 8 --batch-spans 1000 --quiet > $d/lg 2>&1
kill -9 $pid; wait $pid 2>/dev/null
wal=$(du -sb $d/data/wal | cut -f1)
t0=$(date +%s.%N)
$bin $args > $d/log2 2>&1 & pid=$!
for i in $(seq 3000); do grep -q "spoor is ready" $d/log2 && break; sleep 0.01; done
t1=$(date +%s.%N)
kill $pid; wait $pid 2>/dev/null
python3 -c "w=$wal/2**20; s=$t1-$t0; print(f'{\"$bin\"}: WAL {w:.1f} MiB, restart {s:.2f} s, {s/(w/1024):.1f} s/GiB')"
rm -rf $d
