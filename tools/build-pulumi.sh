#!/usr/bin/env bash
# Builds the real Pulumi engine and the providers that can be built from Go modules,
# once per source version, into a cache outside the work tree, and prints the bin folder to put on
# PATH. A warm cache builds nothing. MESHBRIDGE_CACHE overrides the cache folder (default:
# ~/.cache/meshbridge). The wrapper modules are in tools/pulumi/ (ours, no upstream source):
#   cli/  pulumi                 github.com/pulumi/pulumi/pkg/v3/cmd/pulumi, version stamped by -ldflags
#   tls/  pulumi-resource-tls    Terraform TLS provider through the Pulumi bridge (see tls/go.mod)
#         (pulumi-tfgen-tls writes its schema in the build folder; it is embedded, never committed)
# Python programs run through tools/pulumi/pulumi_client_host.py (no pulumi-language-python: see
# tools/pulumi/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tools/pulumi"
cache=${MESHBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshbridge}
export GOFLAGS=-mod=readonly GOSUMDB=off GOTOOLCHAIN=local
# the tls provider reports the version of the Python SDK pin, marked as our build
tls_pin=$(sed -n 's/^pulumi-tls==//p' "$root/requirements.txt")
tls_version="${tls_pin}+meshbridge"
pulumi_version=$(sed -n 's#^[[:space:]]*github.com/pulumi/pulumi/pkg/v3 \(v[0-9.]*\).*#\1#p' "$src/cli/go.mod")
key=$( { echo "tls $tls_version"; echo "pulumi $pulumi_version";
  cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
out="$cache/pulumi/$key"
bin="$out/bin"
command -v go >/dev/null || { echo "build-pulumi: Go is required" >&2; exit 2; }
mkdir -p "$bin"

timed() { # timed NAME CMD...: runs CMD, logs its wall time to the build log
  local name=$1 t0; shift; t0=$(date +%s)
  "$@"
  echo "build-pulumi: $name built in $(( $(date +%s) - t0 ))s (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
}

if [ ! -x "$bin/pulumi" ]; then
  echo "build-pulumi: building pulumi $pulumi_version (cold: several minutes) ..." >&2
  build_cli() {
    (cd "$src/cli" && go build -trimpath \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$pulumi_version" \
      -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >&2
    mv "$bin/pulumi.tmp" "$bin/pulumi"
  }
  timed pulumi build_cli
fi

if [ ! -x "$bin/pulumi-resource-tls" ]; then
  echo "build-pulumi: building pulumi-resource-tls $tls_version (cold: several minutes) ..." >&2
  build_tls() {
    # A build folder outside the repository: the schema is generated there and embedded.
    local b="$out/build/tls"
    rm -rf "$b" && mkdir -p "$b" && cp -R "$src/tls/." "$b/"
    local ld="-X meshbridge.local/tools/pulumi/tls/tlsinfo.Version=$tls_version"
    (cd "$b" && go build -trimpath -ldflags "$ld" -o "$b/pulumi-tfgen-tls" ./cmd/pulumi-tfgen-tls) >&2
    # PULUMI_CONVERT=0: no `pulumi convert` of the Terraform examples (docs only); descriptions
    # are read from the upstream provider's docs/ in the module cache
    local upstream; upstream=$(cd "$b" && go list -m -f '{{.Dir}}' github.com/hashicorp/terraform-provider-tls)
    (cd "$b" && TFGEN_UPSTREAM_DIR="$upstream" PULUMI_CONVERT=0 PULUMI_HOME="$b/.pulumi" PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
      ./pulumi-tfgen-tls schema --out "$b/schema") >"$b/tfgen.log" 2>&1 \
      || { cat "$b/tfgen.log" >&2; exit 1; }
    # schema-embed.json: the generated schema.json with the version stamped in
    python3 - "$b/schema/schema.json" "$b/cmd/pulumi-resource-tls/schema-embed.json" "$tls_version" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["version"] = sys.argv[3]
json.dump(spec, open(sys.argv[2], "w"), separators=(",", ":"))
PY
    cp "$b/schema/bridge-metadata.json" "$b/cmd/pulumi-resource-tls/bridge-metadata.json"
    (cd "$b" && go build -trimpath -ldflags "$ld" -o "$bin/pulumi-resource-tls.tmp" ./cmd/pulumi-resource-tls) >&2
    cp "$b/schema/schema.json" "$out/tls-schema.json"
    mv "$bin/pulumi-resource-tls.tmp" "$bin/pulumi-resource-tls"
    rm -f "$b/pulumi-tfgen-tls"
  }
  timed pulumi-resource-tls build_tls
fi

echo "$bin"
