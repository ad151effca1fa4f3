#!/usr/bin/env bash
# Ad hoc figure for issue 11 (trace by id): preload SPANS spans (default 2 M) into a disk store, restart, then time
# `GET /api/traces/{id}` for QUERIES acknowledged trace ids right after the restart (cold), again (warm) and QUERIES other ids
# (new: traces not read before, in a warm process), with a CPU profile of the cold pass when PROFILE=file.pb.gz is set.
# MODE=search times the bench's searches instead (lookback 1h, limit 20, cold and warm),
# of the kind KIND: service (default, `?service=S`), op (service and operation), attr (service and `tags={"tenant.id":…}`),
# attronly (the tag alone) or mindur (service and `minDuration=100ms`); each query of a kind with another service or value.
# usage: scripts/engine-byid.sh SPOOR_BIN [SPANS] [QUERIES]   (keeps the data dir when KEEP=dir is set and reuses it)
set -u
bin=$1; spans=${2:-2000000}; queries=${3:-50}
d=${KEEP:-$(mktemp -d /tmp/byid.XXXX)}; mkdir -p "$d"
# The pprof extension only when a profile is asked for: it also turns on the heap sampler.
if [ -n "${PROFILE:-}${INGEST_PROFILE:-}" ]; then
  ext='extensions:
  pprof:
    endpoint: 127.0.0.1:0'; svc='  extensions: [pprof]'
else
  ext=''; svc=''
fi
cat > "$d/cfg.yaml" <<CFG
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
exporters:
  spoor:
$ext
service:
$svc
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
CFG
args="--config $d/cfg.yaml --storage disk --data-dir $d/data --query-http 127.0.0.1:0 --query-grpc off --admin-http 127.0.0.1:0 --tempo-http off"
start() {
  $bin $args > "$d/log" 2>&1 & pid=$!
  for i in $(seq 300); do grep -q "spoor is ready" "$d/log" && break; sleep 0.1; done
  addr() { grep "listener=$1" "$d/log" | grep -o 'addr=[0-9.]*:[0-9]*' | head -1 | cut -d= -f2; }
  grpc=$(addr otlp-grpc); query=$(addr query-http); pprof=$(addr pprof); admin=$(addr admin-http)
}
if [ ! -s "$d/acks" ]; then
  start
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  prof=
  if [ -n "${INGEST_PROFILE:-}" ]; then (sleep 5; curl -s -o "$INGEST_PROFILE" "http://$pprof/debug/pprof/profile?seconds=30") & prof=$!; fi
  ${LOADGEN:-$bin} loadgen --otlp-grpc "$grpc" --spans "$spans" --pool 0 --retries 50 --quiet --ack-log "$d/acks" > "$d/lg" 2>&1
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  echo "preload: server CPU $(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / spans )) us/span, peak RSS $(grep VmHWM /proc/$pid/status | awk '{print int($2/1024)}') MiB; $(tr -d '\n' < "$d/lg" | grep -o '"spans_per_s":[0-9.]*')"
  [ -n "$prof" ] && wait "$prof"   # not a bare `wait`: that would wait for the server too
  sleep 5; kill $pid; wait $pid 2>/dev/null
fi
if [ "${MODE:-byid}" = search ]; then
  for i in $(seq "$queries"); do
    s=$(echo frontend api-gateway auth-gateway auth user catalog cart checkout payment shipping inventory pricing | cut -d' ' -f$(( (i - 1) % 12 + 1 )))
    t=$(printf '%%7B%%22tenant.id%%22%%3A%%22t%03d%%22%%7D' $(( (i - 1) % 10 )))
    case "${KIND:-service}" in
      service) q="service=$s" ;;
      op) q=$(echo 'frontend&operation=GET%20%2F' 'auth&operation=auth.Auth%2FValidate' 'user&operation=user.Users%2FGet' \
            'catalog&operation=catalog.Catalog%2FGetProduct' 'checkout&operation=checkout.Checkout%2FPlaceOrder' \
            'pricing&operation=pricing.Pricing%2FQuote' | cut -d' ' -f$(( (i - 1) % 6 + 1 ))); q="service=$q" ;;
      attr) q="service=$s&tags=$t" ;;
      attronly) q="tags=$t" ;;
      mindur) q="service=$s&minDuration=100ms" ;;
      *) echo "unknown KIND=$KIND" >&2; exit 2 ;;
    esac
    echo "/api/traces?$q&lookback=1h&limit=20"
  done > "$d/ids"
else
sort -u "$d/acks" | awk -v n="$queries" 'BEGIN{srand(7)} {a[NR]=$0} END{step=int(NR/n); if(step<1)step=1; for(i=1;i<=NR&&c<n;i+=step){print a[i]; c++}}' | sed 's|^|/api/traces/|' > "$d/ids"
# As many other ids, half a step further on: the "new" pass looks up traces not read before in a warm process.
sort -u "$d/acks" | awk -v n="$queries" '{a[NR]=$0} END{step=int(NR/n); if(step<2)step=2; for(i=1+int(step/2);i<=NR&&c<n;i+=step){print a[i]; c++}}' | sed 's|^|/api/traces/|' > "$d/ids-new"
fi
start
if [ -n "${PROFILE:-}" ]; then curl -s -o "$PROFILE" "http://$pprof/debug/pprof/profile?seconds=${PROFILE_SECONDS:-20}" & ppid=$!; fi
# Server CPU per query (from /proc, so other load on the machine moves it less than the latencies).
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
for pass in cold warm new; do
  ids=$d/ids; [ $pass = new ] && ids=$d/ids-new && [ "${MODE:-byid}" = search ] && continue
  [ -s "$ids" ] || continue
  c0=$(cpu)
  while read -r id; do curl -s -o /dev/null -w '%{time_total} %{http_code}\n' "http://$query$id"; done < "$ids" | sort -n > "$d/lat"
  c1=$(cpu); hz=$(getconf CLK_TCK)
  awk -v p=$pass -v c=$((c1 - c0)) -v hz=$hz '{v[NR]=$1*1000; if ($2 != 200) bad++} END{printf "%s: n=%d p50 %.1f ms p99 %.1f ms max %.1f ms; server CPU %.1f ms/query%s\n", p, NR, v[int((NR-1)*0.5+0.5)+1], v[int((NR-1)*0.99+0.5)+1], v[NR], c*1000/hz/NR, bad ? sprintf("; %d answers not 200", bad) : ""}' "$d/lat"
done
[ -n "${PROFILE:-}" ] && wait $ppid
# The dictionary cache's hits and misses over the passes (builds that have it).
curl -s "http://$admin/metrics" | grep '^spoor_engine_dictionary_cache' | tr '\n' ' '; echo
echo "server peak RSS over the passes: $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MiB; RSS now $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status) MiB"
kill $pid; wait $pid 2>/dev/null
echo "blocks: $(find "$d/data" -name '*.parquet' | wc -l), $(du -sh "$d/data" | cut -f1)"
[ -z "${KEEP:-}" ] && rm -rf "$d"
