#!/usr/bin/env bash
# Builds meshbridge-verify (the Go module in verify/: Istio's own code as the judge) once per source
# version, into a cache outside the work tree, and prints the binary's path. A warm cache builds
# nothing. MESHBRIDGE_CACHE overrides the cache folder (default: ~/.cache/meshbridge).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MESHBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbridge}
key=$(cd "$root/verify" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
bin="$cache/verify/$key/meshbridge-verify"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "build-verify: Go is required (go.mod asks for $(sed -n 's/^go //p' "$root/verify/go.mod"))" >&2; exit 2; }
  mkdir -p "$(dirname "$bin")"
  echo "build-verify: building meshbridge-verify $key (several minutes when the Go caches are cold) ..." >&2
  # go.sum is committed; the checksum database may be unreachable, so it is not asked.
  (cd "$root/verify" && GOFLAGS="-mod=readonly -buildvcs=false" GOSUMDB=off GOTOOLCHAIN=local \
    go build -trimpath -o "$bin.tmp" ./cmd/meshbridge-verify) >&2
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
