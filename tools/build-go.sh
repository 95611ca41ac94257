#!/usr/bin/env bash
# build-go.sh NAME MODULE_DIR PACKAGE BINARY: builds BINARY from PACKAGE of the Go module of ours in
# MODULE_DIR (relative to the repository), once per source version, into a cache outside the work
# tree, and prints the binary's path. A warm cache builds nothing. MESHBRIDGE_CACHE overrides the
# cache folder (default: ~/.cache/meshbridge). Used by build-verify.sh and build-kube.sh.
set -euo pipefail
name=$1 module=$2 package=$3 binary=$4
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MESHBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbridge}
key=$(cd "$root/$module" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
bin="$cache/$name/$key/$binary"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null || { echo "build-$name: Go is required (go.mod asks for $(sed -n 's/^go //p' "$root/$module/go.mod"))" >&2; exit 2; }
  mkdir -p "$(dirname "$bin")"
  # a build folder of its own: two builds at once never share a temporary file; the rename is atomic
  tmp=$(mktemp -d "$bin.build.XXXXXX")
  echo "build-$name: building $binary $key (several minutes when the Go caches are cold) ..." >&2
  # go.sum is committed; the checksum database may be unreachable, so it is not asked.
  (cd "$root/$module" && GOFLAGS="-mod=readonly -buildvcs=false" GOSUMDB=off GOTOOLCHAIN=local \
    go build -trimpath -o "$tmp/$binary" "$package") >&2
  mv -f "$tmp/$binary" "$bin"
  rm -rf "$tmp"
fi
echo "$bin"
