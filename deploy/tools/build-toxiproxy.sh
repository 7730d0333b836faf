#!/usr/bin/env bash
# Build the Toxiproxy server from its Go module once and cache it outside the work tree; print its
# path. The network fault tests call this (CI too); a machine with Go needs nothing else.
set -euo pipefail
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.5.0}"
CACHE="${HELPLINE_CACHE:-$HOME/.cache/helpline}"
BIN="$CACHE/bin/toxiproxy-server-$TOXIPROXY_VERSION"
if [[ ! -x "$BIN" ]]; then
    mkdir -p "$CACHE/bin" "$CACHE/gopath"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "building toxiproxy $TOXIPROXY_VERSION with $(go version) (seconds, once)" >&2
    # A build outside any module, so the repository's own files play no part.
    (cd "$work" && GOPATH="$CACHE/gopath" GOBIN="$work" GOFLAGS=-mod=mod \
        go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION") >&2
    mv "$work/server" "$BIN"
fi
echo "$BIN"
