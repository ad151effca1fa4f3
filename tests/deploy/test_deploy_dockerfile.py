"""deploy/Dockerfile, parsed with dockerfile-parse (hadolint, a Haskell program, is not obtainable from
the package registries this project uses): every COPY source exists in the build context and is not
excluded by .dockerignore, the final stage runs as a non-root user, exposes the familiar ports and
has a HEALTHCHECK on 13133."""

import fnmatch

from dockerfile_parse import DockerfileParser

from conftest import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "Dockerfile"


def parse():
    p = DockerfileParser(fileobj=open(DOCKERFILE, "rb"))
    return p.structure


def stages(structure):
    out = []
    for ins in structure:
        if ins["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def ignored(rel: str) -> bool:
    pats = [l.strip() for l in (ROOT / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    return any(fnmatch.fnmatch(rel.rstrip("/"), p) or rel.startswith(p.rstrip("/") + "/") for p in pats)


def test_multi_stage_ui_then_cargo_then_slim_runtime():
    froms = [ins["value"] for ins in parse() if ins["instruction"] == "FROM"]
    assert len(froms) == 3
    assert froms[0].startswith("node:") and " AS ui" in froms[0]
    assert froms[1].startswith("rust:1.95") and " AS build" in froms[1]
    assert froms[2].startswith("debian:") and "slim" in froms[2]
    runs = " ".join(ins["value"] for ins in parse() if ins["instruction"] == "RUN")
    assert "npm run build" in runs and "cargo build --release --locked -p spoor" in runs


def test_every_copy_source_exists_in_the_context():
    for ins in parse():
        if ins["instruction"] != "COPY" or "--from=" in ins["value"]:
            continue
        *sources, _dest = ins["value"].split()
        for src in sources:
            assert (ROOT / src).exists(), f"line {ins['startline'] + 1}: COPY {src}: not in the repository"
            assert not ignored(src), f"COPY {src} is excluded by .dockerignore"


def test_dockerignore_matching():
    assert ignored("target/release/spoor") and ignored(".cache/bin/helm")
    assert not ignored("crates/") and not ignored("ui/src")


def test_runtime_runs_as_non_root_with_healthcheck_and_ports():
    final = stages(parse())[-1]
    users = [ins["value"].split(":")[0] for ins in final if ins["instruction"] == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [ins["value"] for ins in final if ins["instruction"] == "HEALTHCHECK"]
    assert health and "http://127.0.0.1:13133/" in health[0]
    exposed = set(" ".join(ins["value"] for ins in final if ins["instruction"] == "EXPOSE").split())
    assert {"4317", "4318", "6831/udp", "6832/udp", "14268", "14250", "9411", "16686", "16685", "14269", "13133"} <= exposed
    entry = [ins["value"] for ins in final if ins["instruction"] == "ENTRYPOINT"]
    assert entry == ['["/usr/local/bin/spoor"]']
    cmd = [ins["value"] for ins in final if ins["instruction"] == "CMD"]
    assert cmd == ['["--config=/etc/spoor/config.yaml"]']
    copied = [ins["value"].split() for ins in final if ins["instruction"] == "COPY"]
    assert ["deploy/config/all-in-one.yaml", "/etc/spoor/config.yaml"] in copied


def test_rust_image_matches_the_toolchain():
    channel = next(l.split('"')[1] for l in (ROOT / "rust-toolchain.toml").read_text().splitlines() if l.startswith("channel"))
    froms = [ins["value"] for ins in parse() if ins["instruction"] == "FROM"]
    assert froms[1].startswith(f"rust:{channel.rsplit('.', 1)[0]}")
