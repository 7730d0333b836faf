#!/usr/bin/env bash
# Build the Helm CLI from its Go module once and cache it outside the work tree; print its path.
# The deployment tests call this (CI too); a machine with Go needs nothing else.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${HELPLINE_CACHE:-$HOME/.cache/helpline}"
BIN="$CACHE/bin/helm-$HELM_VERSION"
if [[ ! -x "$BIN" ]]; then
    mkdir -p "$CACHE/bin" "$CACHE/gopath"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "building helm $HELM_VERSION with $(go version) (a few minutes, once)" >&2
    # A build outside any module, so the repository's own files play no part.
    (cd "$work" && GOPATH="$CACHE/gopath" GOBIN="$work" GOFLAGS=-mod=mod \
        go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >&2
    mv "$work/helm" "$BIN"
fi
echo "$BIN"
