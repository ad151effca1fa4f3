"""Shared fixtures for end-to-end tests: start the real `spoor` binary on ephemeral ports.

`spoor` (function scope) starts a fresh all-in-one server with every listener on 127.0.0.1:0 and
an in-memory store; `start_spoor(...)` starts one with extra flags (e.g. a disk store for crash
tests). Listener addresses come from the `listening listener=<name> addr=<ip:port>` log lines.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SPOOR_BIN = Path(os.environ.get("SPOOR_BIN", ROOT / "target" / "debug" / "spoor"))
CONFORMANCE = ROOT.parent / "shared" / "conformance"
LISTENING = re.compile(r"listening listener=(\S+) addr=(\S+)")

# Every listener flag spoor may have; those its --help lists get 127.0.0.1:0.
LISTENER_FLAGS = [
    "otlp-grpc",
    "otlp-http",
    "query-http",
    "query-grpc",
    "admin-http",
    "health-http",
    "jaeger-thrift-compact",
    "jaeger-thrift-binary",
    "jaeger-thrift-http",
    "jaeger-grpc",
    "zipkin",
    "sampling-http",
    "tempo-http",
]

_help_text = None


def spoor_help():
    global _help_text
    if _help_text is None:
        if not SPOOR_BIN.exists():
            pytest.fail(f"{SPOOR_BIN} does not exist: build it with `cargo build -p spoor`")
        _help_text = subprocess.run(
            [str(SPOOR_BIN), "--help"], capture_output=True, text=True, check=True
        ).stdout
    return _help_text


class Spoor:
    """A running spoor process."""

    def __init__(self, args, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "w+")
        self.proc = subprocess.Popen(
            [str(SPOOR_BIN), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self.addrs = {}
        self._wait_ready()

    def _wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = Path(self.log_path).read_text()
            for name, addr in LISTENING.findall(text):
                self.addrs[name] = addr
            if "spoor is ready" in text:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"spoor exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        raise RuntimeError(f"spoor not ready after {timeout}s:\n{Path(self.log_path).read_text()}")

    def addr(self, name):
        return self.addrs[name]

    def port(self, name):
        return int(self.addrs[name].rsplit(":", 1)[1])

    def url(self, name, path=""):
        return f"http://{self.addrs[name]}{path}"

    def query(self, path, **params):
        """GET on the query HTTP port; returns the response."""
        return requests.get(self.url("query-http", path), params=params, timeout=10)

    def metrics(self):
        return requests.get(self.url("admin-http", "/metrics"), timeout=10).text

    def metric(self, name, **labels):
        """The value of one sample, or 0 if absent."""
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            if series == (f"{name}{{{want}}}" if labels else name):
                return float(value)
        return 0.0

    def log_text(self):
        return Path(self.log_path).read_text()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def listener_args(overrides=None):
    overrides = overrides or {}
    help_text = spoor_help()
    args = []
    for flag in LISTENER_FLAGS:
        if f"--{flag} " in help_text or f"--{flag}\n" in help_text or f"--{flag}=" in help_text:
            args += [f"--{flag}", overrides.get(flag, "127.0.0.1:0")]
    return args


@pytest.fixture
def start_spoor(tmp_path):
    """Factory: start_spoor(*extra_args, env=None) → Spoor; all are stopped at teardown."""
    started = []

    def start(*extra, env=None, listeners=None):
        args = listener_args(listeners) + list(extra)
        s = Spoor(args, tmp_path / f"spoor-{len(started)}.log", env=env)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def spoor(start_spoor):
    """A fresh all-in-one spoor with an in-memory store."""
    return start_spoor("--storage", "memory")


def assert_receiver_counted(spoor_proc, receiver, transport, spans):
    """The standard counters every receiver emits, after a clean delivery of `spans` spans:
    received == accepted == spans, nothing refused or dropped, requests and bytes counted."""
    labels = {"receiver": receiver, "transport": transport}

    def value(name):
        return spoor_proc.metric(f"spoor_receiver_{name}_total", **labels)

    assert value("spans_received") == spans, labels
    assert value("spans_accepted") == spans, labels
    assert value("spans_refused") == 0, labels
    assert value("spans_dropped") == 0, labels
    assert value("requests") >= 1, labels
    assert value("bytes_received") > 0, labels


def wait_for(fn, timeout=15, interval=0.1, what="condition"):
    """Polls fn() until it returns a truthy value; returns it or fails."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (requests.RequestException, KeyError, IndexError, AssertionError) as e:
            last = e
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


def get_trace(spoor_proc, trace_id_hex, timeout=15):
    """Waits until /api/traces/{id} answers 200 and returns the Jaeger trace JSON."""

    def fetch():
        r = spoor_proc.query(f"/api/traces/{trace_id_hex}")
        return r.json()["data"][0] if r.status_code == 200 else None

    return wait_for(fetch, timeout=timeout, what=f"trace {trace_id_hex}")

