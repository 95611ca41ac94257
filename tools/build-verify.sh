#!/usr/bin/env bash
# Builds meshbridge-verify (the Go module in verify/: Istio's own code as the judge) once per source
# version into ~/.cache/meshbridge/verify/<hash>/ (MESHBRIDGE_CACHE moves it) and prints its path.
exec bash "$(dirname "$0")/build-go.sh" verify verify ./cmd/meshbridge-verify meshbridge-verify
