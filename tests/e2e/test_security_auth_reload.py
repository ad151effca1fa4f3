"""Authenticator files are reread on change without a restart: a token added to a
`bearertokenauth` file is accepted within a few seconds and a removed one refused; a user added to
a `basicauth` htpasswd file likewise; a bad file keeps the previous contents and is counted in
`spoor_auth_file_reloads_total{result="failed"}`."""

import time

import pytest
import requests

from conftest import wait_for


@pytest.fixture
def reloading(start_spoor, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("old-token\n")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:pa\n")
    cfg = tmp_path / "auth.yaml"
    cfg.write_text(f"""
extensions:
  bearertokenauth/file:
    filename: {tokens}
    reload_interval: 1s
  basicauth/users:
    htpasswd:
      file: {htpasswd}
    reload_interval: 1s
receivers:
  otlp:
    protocols:
      http:
        auth:
          authenticator: basicauth/users
exporters:
  spoor:
service:
  extensions: [bearertokenauth/file, basicauth/users]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [spoor]
""")
    s = start_spoor("--config", str(cfg), "--storage", "memory", "--query-auth", "bearertokenauth/file")
    return s, tokens, htpasswd


def status(s, token):
    return requests.get(s.url("query-http", "/api/services"),
                        headers={"authorization": f"Bearer {token}"}, timeout=5).status_code


def post(s, user, password):
    return requests.post(s.url("otlp-http", "/v1/traces"), data=b"", auth=(user, password), timeout=5,
                         headers={"content-type": "application/x-protobuf"}).status_code


def reloads(s, extension, result):
    text = requests.get(s.url("admin-http", "/metrics"), timeout=5).text
    for line in text.splitlines():
        if (line.startswith("spoor_auth_file_reloads_total{") and f'extension="{extension}"' in line
                and f'result="{result}"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_tokens_and_users_follow_their_files(reloading):
    s, tokens, htpasswd = reloading
    assert status(s, "old-token") == 200
    assert status(s, "new-token") == 401
    assert post(s, "alice", "pa") == 200
    assert post(s, "bob", "pb") == 401

    tokens.write_text("# rotated\nnew-token\n")
    htpasswd.write_text("bob:pb\n")
    start = time.monotonic()
    assert wait_for(lambda: status(s, "new-token") == 200, timeout=10, what="the new token")
    took = time.monotonic() - start
    assert took < 5, took
    assert status(s, "old-token") == 401
    assert wait_for(lambda: post(s, "bob", "pb") == 200, timeout=10)
    assert post(s, "alice", "pa") == 401
    assert reloads(s, "bearertokenauth/file", "ok") == 1
    assert reloads(s, "basicauth/users", "ok") == 1

    # A bad file (a line with an unknown role) does not replace the good one, and is counted.
    tokens.write_text("bad-token * reed\n")
    # Files are checked when a request arrives: each poll sends one.
    assert wait_for(lambda: status(s, "new-token") == 200 and reloads(s, "bearertokenauth/file", "failed") == 1,
                    timeout=10, what="the bad file counted")
    assert status(s, "new-token") == 200
    assert status(s, "bad-token") == 401
    # Written right, it is loaded.
    tokens.write_text("bad-token\n")
    assert wait_for(lambda: status(s, "bad-token") == 200, timeout=10)
    assert status(s, "new-token") == 401
