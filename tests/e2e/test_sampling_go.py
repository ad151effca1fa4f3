"""The OpenTelemetry Go SDK's remote sampler (go.opentelemetry.io/contrib/samplers/jaegerremote)
polls Spoor and obeys its strategies, per operation. The client is built by
scripts/setup-go-clients.sh into .cache/go-clients; without Go (or its modules) the test skips."""

import math
import subprocess

import pytest

from clients.ingest_trace import run_client
from conftest import ROOT, wait_for
from test_sampling_remote import sampled_spoor, stored_traces  # noqa: F401 (fixture)

GO_CLIENT = ROOT / ".cache" / "go-clients" / "go_remote_sampled"


@pytest.fixture(scope="module")
def go_client():
    subprocess.run(["bash", str(ROOT / "scripts" / "setup-go-clients.sh")], check=False, timeout=900)
    if not GO_CLIENT.exists():
        pytest.skip("the Go client is not built (go absent or its modules not fetched): see scripts/setup-go-clients.sh")
    return str(GO_CLIENT)


def run_go(client, s, service, *plan):
    return run_client(
        [client, s.url("sampling-http", "/sampling"), f"127.0.0.1:{s.port('otlp-http')}", service, *plan],
        timeout=120,
    )


def test_the_go_remote_sampler_obeys_the_served_probability(go_client, sampled_spoor):  # noqa: F811
    n, p = 2000, 0.1
    out = run_go(go_client, sampled_spoor, "remote-py", f"GET /cart={n}")
    sampled = out["sampled"]["GET /cart"]
    sigma = math.sqrt(n * p * (1 - p))
    assert abs(sampled - n * p) <= 3 * sigma, out
    wait_for(lambda: stored_traces(sampled_spoor, "remote-py") == sampled, timeout=20, what="sampled traces stored")


def test_the_go_remote_sampler_applies_per_operation_strategies(go_client, sampled_spoor):  # noqa: F811
    out = run_go(go_client, sampled_spoor, "remote-ops", "always=300", "never=300", "other=400")
    assert out["sampled"]["always"] == 300 and out["sampled"]["never"] == 0, out
    # Operations the strategy does not name use its default probability (0.5).
    assert abs(out["sampled"]["other"] - 200) <= 3 * math.sqrt(400 * 0.25), out
    wait_for(lambda: stored_traces(sampled_spoor, "remote-ops") == 300 + out["sampled"]["other"], timeout=20, what="stored")
