#!/usr/bin/env bash
# Builds the real Pulumi engine and the providers that can be built from Go modules, each once per
# source version into a cache outside the work tree, and prints a bin folder to put on PATH (links
# to the three binaries). A warm cache builds nothing. MESHBRIDGE_CACHE overrides the cache folder
# (default: ~/.cache/meshbridge). The wrapper modules are in tools/pulumi/ (ours, no upstream source):
#   cli/         pulumi                      github.com/pulumi/pulumi/pkg/v3/cmd/pulumi, version by -ldflags
#   tls/         pulumi-resource-tls         Terraform TLS provider through the Pulumi bridge (see tls/go.mod)
#                (pulumi-tfgen-tls writes its schema in the build folder; it is embedded, never committed)
#   kubernetes/  pulumi-resource-kubernetes  github.com/pulumi/pulumi-kubernetes/provider/v4, its serve
#                entry point; schema and terraform mapping embedded from the module's own files
# Each binary has its own key (its version and its wrapper module's files), so a change to one
# wrapper rebuilds that binary only; the three cold builds run concurrently. Every build writes a
# temporary file of its own and renames it into place, so two runs at once are safe.
# Python programs run through tools/pulumi/pulumi_client_host.py (no pulumi-language-python: see
# tools/pulumi/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tools/pulumi"
cache=${MESHBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbridge}
export GOFLAGS=-mod=readonly GOSUMDB=off GOTOOLCHAIN=local
# the providers report the versions of the Python SDK pins; tls is marked as our build
tls_version="$(sed -n 's/^pulumi-tls==//p' "$root/requirements.txt")+meshbridge"
k8s_version="$(sed -n 's/^pulumi-kubernetes==//p' "$root/requirements.txt")"
pulumi_version=$(sed -n 's#^[[:space:]]*github.com/pulumi/pulumi/pkg/v3 \(v[0-9.]*\).*#\1#p' "$src/cli/go.mod")
command -v go >/dev/null || { echo "build-pulumi: Go is required" >&2; exit 2; }

key() { # key VERSION DIR: hash of a version and the Go files of one wrapper module
  { echo "$1"; cd "$src/$2" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16
}
cli_dir="$cache/pulumi-cli/$(key "$pulumi_version" cli)"
tls_dir="$cache/pulumi-tls/$(key "$tls_version" tls)"
k8s_dir="$cache/pulumi-kubernetes/$(key "$k8s_version" kubernetes)"

timed() { # timed NAME CMD...: runs CMD, logs its wall time to the build log
  local name=$1 t0; shift; t0=$(date +%s)
  "$@"
  echo "build-pulumi: $name built in $(( $(date +%s) - t0 ))s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
}

build_cli() {
  local b; mkdir -p "$cli_dir"; b=$(mktemp -d "$cli_dir/build.XXXXXX")
  (cd "$src/cli" && go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
    -o "$b/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >&2
  mv -f "$b/pulumi" "$cli_dir/pulumi"
  rm -rf "$b"
}

build_tls() {
  # A build folder of its own outside the repository: the schema is generated there and embedded.
  mkdir -p "$tls_dir"
  local b; b=$(mktemp -d "$tls_dir/build.XXXXXX")
  cp -R "$src/tls/." "$b/"
  local ld="-X meshbridge.local/tools/pulumi/tls/tlsinfo.Version=$tls_version"
  (cd "$b" && go build -trimpath -ldflags "$ld" -o "$b/pulumi-tfgen-tls" ./cmd/pulumi-tfgen-tls) >&2
  # PULUMI_CONVERT=0: no `pulumi convert` of the Terraform examples (docs only); descriptions
  # are read from the upstream provider's docs/ in the module cache
  local upstream; upstream=$(module_dir "$b" github.com/hashicorp/terraform-provider-tls)
  (cd "$b" && TFGEN_UPSTREAM_DIR="$upstream" PULUMI_CONVERT=0 PULUMI_HOME="$b/.pulumi" PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
    ./pulumi-tfgen-tls schema --out "$b/schema") >"$b/tfgen.log" 2>&1 \
    || { cat "$b/tfgen.log" >&2; exit 1; }
  # schema-embed.json: the generated schema.json with the version stamped in
  stamp_schema "$b/schema/schema.json" "$b/cmd/pulumi-resource-tls/schema-embed.json" "$tls_version"
  cp "$b/schema/bridge-metadata.json" "$b/cmd/pulumi-resource-tls/bridge-metadata.json"
  (cd "$b" && go build -trimpath -ldflags "$ld" -o "$b/pulumi-resource-tls" ./cmd/pulumi-resource-tls) >&2
  cp "$b/schema/schema.json" "$tls_dir/tls-schema.json"
  mv -f "$b/pulumi-resource-tls" "$tls_dir/pulumi-resource-tls"
  rm -rf "$b"
}

build_kubernetes() {
  mkdir -p "$k8s_dir"
  local b; b=$(mktemp -d "$k8s_dir/build.XXXXXX")
  cp -R "$src/kubernetes/." "$b/"
  local upstream; upstream=$(module_dir "$b" github.com/pulumi/pulumi-kubernetes/provider/v4)
  local cmd="$b/cmd/pulumi-resource-kubernetes"
  # as the module's own generate.go does: schema.json with the version stamped in, both minified
  stamp_schema "$upstream/cmd/pulumi-resource-kubernetes/schema.json" "$cmd/schema-embed.json" "$k8s_version"
  stamp_schema "$upstream/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$cmd/terraform-mapping-embed.json" ""
  (cd "$b" && go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$k8s_version" \
    -o "$b/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes) >&2
  mv -f "$b/pulumi-resource-kubernetes" "$k8s_dir/pulumi-resource-kubernetes"
  rm -rf "$b"
}

module_dir() { # module_dir DIR MODULE: the module's folder in the module cache, downloaded first
  # (`go list -m` prints no folder for a module whose source is not in the cache: a cold machine)
  local dir
  dir=$(cd "$1" && go mod download "$2" >&2 && go list -m -f '{{.Dir}}' "$2") || return 1
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "build-pulumi: no source of $2 in the module cache" >&2; return 1; }
  echo "$dir"
}

stamp_schema() { # stamp_schema IN OUT VERSION: minified JSON, "version" set when VERSION is given
  python3 - "$@" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
if sys.argv[3]:
    spec["version"] = sys.argv[3]
json.dump(spec, open(sys.argv[2], "w"), separators=(",", ":"))
PY
}

pids=()
if [ ! -x "$cli_dir/pulumi" ]; then
  echo "build-pulumi: building pulumi $pulumi_version (cold: several minutes) ..." >&2
  timed pulumi build_cli & pids+=($!)
fi
if [ ! -x "$tls_dir/pulumi-resource-tls" ]; then
  echo "build-pulumi: building pulumi-resource-tls $tls_version (cold: several minutes) ..." >&2
  timed pulumi-resource-tls build_tls & pids+=($!)
fi
if [ ! -x "$k8s_dir/pulumi-resource-kubernetes" ]; then
  echo "build-pulumi: building pulumi-resource-kubernetes $k8s_version (cold: many minutes) ..." >&2
  timed pulumi-resource-kubernetes build_kubernetes & pids+=($!)
fi
for p in "${pids[@]}"; do wait "$p"; done

# one folder of links to put on PATH, named after the three keys
bin="$cache/pulumi/$(basename "$cli_dir")-$(basename "$tls_dir")-$(basename "$k8s_dir")/bin"
if [ ! -e "$bin/pulumi-resource-kubernetes" ]; then
  mkdir -p "$bin"
  ln -sfn "$cli_dir/pulumi" "$bin/pulumi"
  ln -sfn "$tls_dir/pulumi-resource-tls" "$bin/pulumi-resource-tls"
  ln -sfn "$k8s_dir/pulumi-resource-kubernetes" "$bin/pulumi-resource-kubernetes"
fi
echo "$bin"
