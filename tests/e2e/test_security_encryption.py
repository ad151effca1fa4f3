"""Encryption at rest (issue 16) through the real binary: no plaintext service name in the data
directory's bytes; a missing or wrong key is a clear error at start that changes nothing (no
quarantine, no rebuild, no WAL repair); the right key brings everything back; S3 server-side
encryption options reach the object store."""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import wait_for
from test_data_safety import CUT, ROOT, found, moto_endpoint, post, request, send, trace_id, wait_blocks

SECRET = "zebra-secret-svc"


def key_file(path, byte):
    path.write_text(f"{byte:02x}" * 32 + "\n")
    return str(path)


def send_secret(spoor, numbers):
    for n in numbers:
        assert post(spoor, request([n], service=SECRET)).status_code == 200


def files_with(root, needle):
    hits = []
    for p in Path(root).rglob("*"):
        if p.is_file() and needle in p.read_bytes():
            hits.append(str(p))
    return hits


def snapshot(data):
    store = Path(data) / "store"
    return {
        sub: sorted(p.name for p in (store / sub).glob("*") if p.is_file())
        for sub in ("blocks", "manifest", "quarantine")
    } | {"wal": sorted((p.name, p.stat().st_size) for p in (Path(data) / "wal").glob("*.wal"))}


def test_no_plaintext_service_name_and_a_wrong_key_is_a_clear_error(start_spoor, tmp_path):
    data = tmp_path / "data"
    k1 = key_file(tmp_path / "k1.key", 1)
    spoor = start_spoor("--data-dir", str(data), "--encryption-key-file", k1, *CUT)
    send_secret(spoor, range(1, 21))
    wait_blocks(spoor, 1)
    send_secret(spoor, range(21, 31))  # at least the newest in the WAL
    assert spoor.stop() == 0
    assert list((data / "store" / "blocks").glob("*.parquet")), "blocks were cut"
    assert files_with(data, SECRET.encode()) == []

    # The same key: everything back, names included.
    again = start_spoor("--data-dir", str(data), "--encryption-key-file", k1, "--block-cut-interval", "1h")
    assert found(again, range(1, 31)) == 30
    assert SECRET in again.query("/api/services").json()["data"]
    assert again.stop() == 0
    before = snapshot(data)

    # No key, another key, the same key id with other material: refused at start, clearly.
    k2 = key_file(tmp_path / "k2.key", 2)
    for args, says in [
        ((), "no encryption key is configured"),
        (("--encryption-key-file", k2), "which is not configured"),
    ]:
        with pytest.raises(RuntimeError) as failed:
            start_spoor("--data-dir", str(data), *args)
        assert says in str(failed.value), str(failed.value)[-2000:]
        assert snapshot(data) == before, "nothing quarantined, rebuilt or cut"
    k1_id = re.search(r'"(k-[0-9a-f]{16})"', str(failed.value)).group(1)
    with pytest.raises(RuntimeError) as failed:
        start_spoor("--data-dir", str(data), "--encryption-key-file", k2, "--encryption-key-id", k1_id)
    assert "do not decrypt" in str(failed.value), str(failed.value)[-2000:]
    assert snapshot(data) == before

    # The key from the environment instead of a file: the right one serves everything.
    back = start_spoor("--data-dir", str(data), env={"SPOOR_ENCRYPTION_KEY": "01" * 32})
    assert found(back, range(1, 31)) == 30
    assert back.metric("spoor_engine_corrupt_blocks_total") == 0


def test_rotation_reads_old_data_with_the_old_key(start_spoor, tmp_path):
    data = tmp_path / "data"
    k1 = key_file(tmp_path / "k1.key", 1)
    k2 = key_file(tmp_path / "k2.key", 2)
    first = start_spoor("--data-dir", str(data), "--encryption-key-file", k1, "--encryption-key-id", "k1", *CUT)
    send(first, range(1, 11))
    wait_blocks(first, 1)
    assert first.stop() == 0
    rotated = start_spoor(
        "--data-dir",
        str(data),
        "--encryption-key-file",
        k2,
        "--encryption-key-id",
        "k2",
        "--encryption-old-key-file",
        f"k1={k1}",
        *CUT,
    )
    assert found(rotated, range(1, 11)) == 10
    send(rotated, range(11, 21))
    wait_blocks(rotated, 1)
    assert found(rotated, range(1, 21)) == 20
    # The background compaction merges the k1 and k2 blocks under k2: nothing is corrupt.
    wait_for(lambda: rotated.metric("spoor_engine_compactions_total") >= 1, what="a compaction")
    assert found(rotated, range(1, 21)) == 20
    assert rotated.metric("spoor_engine_corrupt_blocks_total") == 0
    assert not list((data / "store" / "quarantine").glob("*")), "nothing quarantined"
    assert rotated.stop() == 0
    # Compacted under k2: k1 is no longer needed.
    k2_only = start_spoor("--data-dir", str(data), "--encryption-key-file", k2, "--encryption-key-id", "k2")
    assert found(k2_only, range(1, 21)) == 20


def head_object_sse(endpoint, bucket, key, field="ServerSideEncryption"):
    """`ServerSideEncryption` of an object by boto3's signed `head_object` (boto3 comes with moto,
    in the venv `scripts/start-moto.sh` installs)."""
    python = ROOT / ".cache" / "moto-venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no moto venv with boto3: run scripts/start-moto.sh")
    code = (
        "import boto3, sys; "
        "s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', "
        "aws_access_key_id='test', aws_secret_access_key='test'); "
        "print(s3.head_object(Bucket=sys.argv[2], Key=sys.argv[3]).get(sys.argv[4]))"
    )
    out = subprocess.run([str(python), "-c", code, endpoint, bucket, key, field], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_s3_server_side_encryption_is_sent(start_spoor, tmp_path):
    endpoint = moto_endpoint()
    bucket = f"spoor-sse-{os.getpid()}-{time.time_ns()}"
    assert requests.put(f"{endpoint}/{bucket}", timeout=10).status_code == 200
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT": endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    url = f"s3://{bucket}/traces"
    spoor = start_spoor(
        "--data-dir", str(tmp_path / "d"), "--storage-url", url, "--s3-sse", "AES256", *CUT, env=env
    )
    send(spoor, range(1, 6))
    wait_blocks(spoor, 1)
    listing = requests.get(f"{endpoint}/{bucket}?list-type=2&prefix=traces/blocks/", timeout=10).text
    keys = re.findall(r"<Key>([^<]+\.parquet)</Key>", listing)
    assert keys, listing
    assert head_object_sse(endpoint, bucket, keys[0]) == "AES256"
    assert found(spoor, range(1, 6)) == 5
    assert spoor.stop() == 0
    # SSE-KMS with a key id: both options reach the object store.
    kms_url = f"s3://{bucket}/kms"
    kms = start_spoor(
        "--data-dir",
        str(tmp_path / "k"),
        "--storage-url",
        kms_url,
        "--s3-sse",
        "aws:kms",
        "--s3-sse-kms-key-id",
        "spoor-test-key",
        *CUT,
        env=env,
    )
    send(kms, range(1, 3))
    wait_blocks(kms, 1)
    listing = requests.get(f"{endpoint}/{bucket}?list-type=2&prefix=kms/blocks/", timeout=10).text
    keys = re.findall(r"<Key>([^<]+\.parquet)</Key>", listing)
    assert keys, listing
    assert head_object_sse(endpoint, bucket, keys[0], "SSEKMSKeyId").endswith("spoor-test-key")
    assert head_object_sse(endpoint, bucket, keys[0]) == "aws:kms"
    # An unknown SSE kind is refused at start with the option's name.
    with pytest.raises(RuntimeError) as failed:
        start_spoor("--data-dir", str(tmp_path / "e"), "--storage-url", url, "--s3-sse", "rot13", env=env)
    assert "server_side_encryption" in str(failed.value) or "rot13" in str(failed.value), str(failed.value)[-2000:]


def test_unencrypted_data_keeps_reading_once_a_key_is_set(start_spoor, tmp_path):
    data = tmp_path / "data"
    plain = start_spoor("--data-dir", str(data), *CUT)
    send(plain, range(1, 11))
    wait_blocks(plain, 1)
    assert plain.stop() == 0
    k1 = key_file(tmp_path / "k1.key", 1)
    enc = start_spoor("--data-dir", str(data), "--encryption-key-file", k1, *CUT)
    assert found(enc, range(1, 11)) == 10
    send(enc, range(11, 21))
    wait_blocks(enc, 1)
    assert found(enc, range(1, 21)) == 20


def send_hours_ago(spoor, numbers, hours):
    """Spans that start `hours` ago: a block of their own compaction window (1 h)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    req.ParseFromString(request(numbers))
    shift = hours * 3600 * 10**9
    for s in req.resource_spans[0].scope_spans[0].spans:
        s.start_time_unix_nano -= shift
        s.end_time_unix_nano -= shift
    assert post(spoor, req.SerializeToString()).status_code == 200


def test_a_block_whose_old_key_was_dropped_answers_503_and_stays(start_spoor, tmp_path):
    data = tmp_path / "data"
    k1 = key_file(tmp_path / "k1.key", 1)
    k2 = key_file(tmp_path / "k2.key", 2)
    first = start_spoor("--data-dir", str(data), "--encryption-key-file", k1, "--encryption-key-id", "k1", *CUT)
    send_hours_ago(first, range(1, 6), 3)  # another compaction window than what follows
    wait_blocks(first, 1)
    assert first.stop() == 0
    k2_and_k1 = ("--encryption-key-file", k2, "--encryption-key-id", "k2")
    rotated = start_spoor("--data-dir", str(data), *k2_and_k1, "--encryption-old-key-file", f"k1={k1}", *CUT)
    send(rotated, range(11, 16))
    wait_blocks(rotated, 1)  # the manifest is now sealed with k2; the first block still with k1
    assert rotated.stop() == 0
    blocks = sorted(p.name for p in (data / "store" / "blocks").glob("*.parquet"))

    k2_only = start_spoor("--data-dir", str(data), *k2_and_k1)
    assert found(k2_only, range(11, 16)) == 5
    r = k2_only.query(f"/api/traces/{trace_id(1)}")
    assert r.status_code == 503, (r.status_code, r.text)
    assert 'key id \\"k1\\", which is not configured' in r.text or '"k1", which is not configured' in r.text, r.text
    assert k2_only.metric("spoor_engine_encryption_key_errors_total") >= 1
    assert k2_only.metric("spoor_engine_corrupt_blocks_total") == 0
    assert k2_only.query(f"/api/traces/{trace_id(12)}").status_code == 200, "still serving"
    assert sorted(p.name for p in (data / "store" / "blocks").glob("*.parquet")) == blocks
    assert not list((data / "store" / "quarantine").glob("*")), "nothing quarantined"
    assert k2_only.stop() == 0

    back = start_spoor("--data-dir", str(data), *k2_and_k1, "--encryption-old-key-file", f"k1={k1}")
    assert found(back, range(1, 6)) == 5
