"""Fixtures for the peer tests: run the real OpenTelemetry Collector (built by
scripts/peers/build-otelcol.sh), Jaeger v2 (scripts/peers/build-jaeger.sh) and `spoor` with the
same config, and collect what their file exporters wrote.

Binaries: SPOOR_BIN (default target/debug/spoor), OTELCOL_BIN (default
.cache/peers/otelcol/otelcol-spoor-peer), JAEGER_BIN (default .cache/peers/jaeger/jaeger).
A missing peer binary skips its tests with the command that builds it.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SPOOR_BIN = Path(os.environ.get("SPOOR_BIN", ROOT / "target" / "debug" / "spoor"))
OTELCOL_BIN = Path(os.environ.get("OTELCOL_BIN", ROOT / ".cache/peers/otelcol/otelcol-spoor-peer"))
JAEGER_BIN = Path(os.environ.get("JAEGER_BIN", ROOT / ".cache/peers/jaeger/jaeger"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary(path, build_script):
    if path.exists():
        return
    why = "Go is not installed" if shutil.which("go") is None else f"run {build_script}"
    pytest.skip(f"{path} is absent ({why}; scripts/test-peers.sh builds it)")


class Proc:
    """A started peer process with its log file."""

    def __init__(self, name, argv, log_path, ready):
        self.name = name
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if ready(self):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} not ready after 60 s:\n{self.log_text()}")

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def write_config(path, config):
    """YAML is a superset of JSON: both peers read this file as their YAML config."""
    Path(path).write_text(json.dumps(config, indent=2))
    return path


def start_otelcol(config, tmp_path, http_port):
    require_binary(OTELCOL_BIN, "scripts/peers/build-otelcol.sh")
    config = json.loads(json.dumps(config))
    # No internal telemetry listener (port 8888 would collide between parallel runs).
    config["service"]["telemetry"] = {"metrics": {"level": "none"}, "logs": {"level": "info"}}
    path = write_config(tmp_path / "otelcol.yaml", config)
    return Proc("otelcol", [str(OTELCOL_BIN), "--config", str(path)], tmp_path / "otelcol.log",
                lambda p: port_open(http_port) and "Everything is ready" in p.log_text())


def spoor_validate(config_path):
    """(ok, output) of `spoor validate --config FILE`."""
    r = subprocess.run([str(SPOOR_BIN), "validate", "--config", str(config_path)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def start_spoor(config, tmp_path):
    if not SPOOR_BIN.exists():
        pytest.fail(f"{SPOOR_BIN} does not exist: build it with `cargo build -p spoor` or set SPOOR_BIN")
    path = write_config(tmp_path / "spoor.yaml", config)
    ok, out = spoor_validate(path)
    if not ok and "unrecognized subcommand 'validate'" in out:
        pytest.skip(f"{SPOOR_BIN} has no collector pipeline (no `spoor validate`, no `--config`)")
    if not ok:
        unavailable = [line.split(": ", 2)[-1] for line in out.splitlines()
                       if "not available in this build" in line]
        if unavailable:
            pytest.skip(f"{SPOOR_BIN}: {'; '.join(unavailable)}")
        pytest.fail(f"spoor validate refused the config the Collector accepts:\n{out}")
    # The query/admin listeners are not part of the Collector config: keep them off the
    # well-known ports so that parallel runs do not collide.
    help_text = subprocess.run([str(SPOOR_BIN), "--help"], capture_output=True, text=True).stdout
    extra = []
    for flag in ("query-http", "query-grpc", "admin-http", "health-http"):
        if f"--{flag} " in help_text:
            extra += [f"--{flag}", "127.0.0.1:0"]
    if "--storage " in help_text:
        extra += ["--storage", "memory"]
    return Proc("spoor", [str(SPOOR_BIN), "--config", str(path), *extra], tmp_path / "spoor.log",
                lambda p: "spoor is ready" in p.log_text())


def post_traces(http_port, request_json):
    r = requests.post(f"http://127.0.0.1:{http_port}/v1/traces", json=request_json, timeout=10)
    assert r.status_code == 200, f"POST /v1/traces → {r.status_code} {r.text[:300]}"


def read_json_lines(path):
    if not Path(path).exists():
        return []
    out = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def wait_stable(path, quiet=1.5, timeout=20):
    """Waits until the file exists and has not grown for `quiet` seconds."""
    deadline = time.time() + timeout
    last, since = -1, time.time()
    while time.time() < deadline:
        size = Path(path).stat().st_size if Path(path).exists() else -1
        if size != last:
            last, since = size, time.time()
        elif size > 0 and time.time() - since >= quiet:
            return
        time.sleep(0.1)


@pytest.fixture
def peers_cleanup():
    started = []
    yield started
    for p in started:
        p.stop()
