#!/usr/bin/env bash
# Build the Toxiproxy server from its Go module once and cache it outside the work tree; print its
# path. The network fault tests call this (CI too); a machine with Go needs nothing else.
set -euo pipefail
exec bash "$(dirname "$0")/go-install.sh" toxiproxy-server \
    github.com/Shopify/toxiproxy/v2/cmd/server "${TOXIPROXY_VERSION:-v2.5.0}"
