"""tail_sampling's memory through the real binary: the buffer of undecided traces is bounded by
`num_traces`. A `spoor loadgen` sends num_traces traces (all buffered, none decided), then ten
times as many: the oldest are decided early and counted, the buffer stays at num_traces, and the
resident set size stays near what the full buffer took. Prints the memory per buffered span."""

import json
import subprocess

from conftest import SPOOR_BIN, wait_for

NUM_TRACES = 2000

CONFIG = f"""
receivers:
  otlp:
    protocols:
      grpc:
processors:
  tail_sampling:
    decision_wait: 120s
    num_traces: {NUM_TRACES}
    policies:
      - name: never
        type: string_attribute
        string_attribute: {{key: no.such.key, values: [x]}}
exporters:
  spoor:
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [tail_sampling]
      exporters: [spoor]
"""


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def send(addr, seed, spans):
    out = subprocess.run(
        [str(SPOOR_BIN), "loadgen", "--otlp-grpc", addr, "--seed", str(seed), "--spans", str(spans), "--batch-spans", "200", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)


def test_the_buffer_is_bounded_by_num_traces_at_ten_times_the_arrivals(start_spoor, tmp_path):
    cfg = tmp_path / "tail.yaml"
    cfg.write_text(CONFIG)
    s = start_spoor("--config", str(cfg), "--storage", "memory")
    addr = s.addr("otlp-grpc")
    pid = s.proc.pid

    def pending(what):
        return s.metric(f"spoor_tail_sampling_{what}_pending", pipeline="traces", processor="tail_sampling")

    def early():
        return s.metric("spoor_tail_sampling_traces_decided_early_total", pipeline="traces", processor="tail_sampling")

    base = rss_mib(pid)
    # Fill the buffer to about num_traces traces (loadgen traces have several spans each).
    first = send(addr, 1, 20_000)
    per_trace = first["spans_sent"] / first["traces_sent"]
    rest = int(NUM_TRACES * per_trace) - first["spans_sent"]
    if rest > 0:
        send(addr, 2, rest)
    wait_for(lambda: pending("traces") >= NUM_TRACES * 0.9, what="a nearly full buffer")
    full_rss = rss_mib(pid)
    spans_buffered = pending("spans")
    per_span = (full_rss - base) * 1024 * 1024 / max(spans_buffered, 1)

    # Ten times num_traces more arrive within decision_wait: the oldest are decided early.
    peak = full_rss
    sent_traces = 0
    for seed in range(3, 13):
        summary = send(addr, seed, int(NUM_TRACES * per_trace))
        sent_traces += summary["traces_acked"]
        peak = max(peak, rss_mib(pid))
        assert pending("traces") <= NUM_TRACES
    print(
        f"\nnum_traces {NUM_TRACES}: {spans_buffered:.0f} spans buffered took {full_rss - base:.1f} MiB"
        f" ({per_span:.0f} B per buffered span, RSS {base:.0f} -> {full_rss:.0f} MiB);"
        f" after {sent_traces} more traces: {early():.0f} decided early, {pending('traces'):.0f} pending,"
        f" peak RSS {peak:.0f} MiB"
    )
    assert sent_traces >= 9 * NUM_TRACES
    assert early() >= sent_traces - NUM_TRACES
    assert pending("traces") <= NUM_TRACES
    # Memory follows the buffer, not the arrivals: ten times the traces cost at most a little more
    # than the full buffer did (allocator slack, the decision cache of decided ids).
    assert peak - base <= 2 * (full_rss - base) + 32, (base, full_rss, peak)
