#!/usr/bin/env bash
# Builds Dex (github.com/dexidp/dex/cmd/dex), a real OpenID Connect provider, into .cache/peers/dex/
# for the UI's OIDC login test (tests/ui/login-oidc.test.mjs, issue 16).
# Dex's go.mod has replace directives, so `go install …@version` refuses it: the module's source is
# downloaded and built as the main module, as build-jaeger.sh does.
# Everything Go downloads or caches lives under .cache/go. Idempotent (hash stamp of this script).
# Needs the Go toolchain and the Go module proxy; exits 0 with a message when Go is absent.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# v2.41.1: Dex tags v2.x on a module path without /v2, so Go needs the pseudo-version of its commit.
version=${DEX_VERSION:-v0.0.0-20240807174518-43956db7fd75}
out=.cache/peers/dex
bin="$out/dex"
stamp="$out/.stamp.sha256"

if ! command -v go >/dev/null 2>&1; then
  echo "build-dex: go not found; Dex is not built (the OIDC login test will skip)" >&2
  exit 0
fi
want=$( (sha256sum "$0"; echo "$version") | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

export GOPATH="$root/.cache/go"
export GOMODCACHE="$root/.cache/go/mod"
export GOCACHE="$root/.cache/go/build"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
# The checksum database has no entry for the nested api/v2 module at the pinned commit (below).
export GONOSUMDB=github.com/dexidp/dex/api/v2
mkdir -p "$out"

start=$(date +%s)
echo "build-dex: building github.com/dexidp/dex/cmd/dex@$version"
dir=$(nice -n 19 go mod download -json "github.com/dexidp/dex@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
src="$root/.cache/peers/dex-src"
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
# cmd/dex names the cgo-only storage sql.SQLite3, and this build has no cgo: `sqlite3` gets the ent
# driver instead (the tests use `storage: memory`).
sed -i -e '/_ StorageConfig = (\*sql.SQLite3)(nil)/d' \
  -e 's|getORMBasedSQLStorage(&sql.SQLite3{}, &ent.SQLite3{})|func() StorageConfig { return new(ent.SQLite3) }|' \
  "$src/cmd/dex/config.go"
# The module's zip leaves out its nested module ./api/v2, which go.mod replaces with that directory:
# take the nested module at the same commit from the proxy instead.
api="github.com/dexidp/dex/api/v2@v2.1.1-0.${version#v0.0.0-}"
(cd "$src" && go mod edit -replace "github.com/dexidp/dex/api/v2=$api" && nice -n 19 go mod download "$api" &&
  GOFLAGS=-mod=mod nice -n 19 go build -trimpath -ldflags=-s -o "$root/$bin" ./cmd/dex)
"$bin" version 2>/dev/null | head -3 || true
echo "$want" > "$stamp"
echo "build-dex: built in $(( $(date +%s) - start )) s"
