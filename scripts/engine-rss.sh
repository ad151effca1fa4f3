#!/usr/bin/env bash
# Ad hoc figure for issue 11 (engine memory): ingest 25 s flat out with `spoor loadgen`, print the server's peak RSS and CPU.
# usage: scripts/engine-rss.sh SPOOR_BIN [MEMORY_LIMIT]
#   LOADGEN=bin   the load generator (default: SPOOR_BIN)      DUR=25s   how long to send
#   RATE=n        spans/s instead of flat out                  TRACE=f   sample RSS and the engine's head metrics every 200 ms into f
bin=$1; lim=${2:-off}; d=$(mktemp -d /tmp/mem-rss.XXXX)
args="--storage disk --data-dir $d/data --memory-limit $lim --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 --query-http 127.0.0.1:0 --query-grpc 127.0.0.1:0 --admin-http 127.0.0.1:0 --zipkin 127.0.0.1:0 --jaeger-grpc 127.0.0.1:0 --jaeger-thrift-http 127.0.0.1:0 --jaeger-thrift-compact 127.0.0.1:0 --jaeger-thrift-binary 127.0.0.1:0"
$bin $args > $d/log1 2>&1 & pid=$!
for i in $(seq 100); do grep -q "spoor is ready" $d/log1 && break; sleep 0.1; done
addr() { grep -o "$1[^0-9]*[0-9.]*:[0-9]*" $d/log1 | grep -o '127.0.0.1:[0-9]*' | head -1; }
grpc=$(addr otlp-grpc); admin=$(addr admin-http)
if [ -n "${TRACE:-}" ]; then
  ( while kill -0 $pid 2>/dev/null; do
      rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status 2>/dev/null)
      m=$(curl -s --max-time 1 http://$admin/metrics | grep -E '^spoor_engine_(head_memory_bytes|blocks_written_total|head_full_(refusals|waits)_total|compactions_total) ' | sed 's/^spoor_engine_//; s/_total//; s/ /=/' | tr '\n' ' ')
      echo "$(date +%s.%N | cut -c1-14) rss_mib=$rss $m"; sleep 0.2
    done ) > "$TRACE" &
fi
${LOADGEN:-$bin} loadgen --otlp-grpc $grpc --duration ${DUR:-25s} --concurrency 8 --batch-spans 1000 --retries 20 ${RATE:+--rate $RATE} > $d/lg 2>&1
hwm=$(grep VmHWM /proc/$pid/status | awk '{print $2}')
cpu=$(awk '{print ($14+$15)/100}' /proc/$pid/stat)
kill $pid; wait $pid 2>/dev/null
echo "$bin limit=$lim: peak RSS $((hwm/1024)) MiB, server CPU ${cpu}s; loadgen: $(grep -i -E 'spans/s|acknowledged|sent' $d/lg | head -3 | tr '\n' ' ')"
rm -rf $d
