#!/usr/bin/env bash
# Build the Helm CLI from its Go module once and cache it outside the work tree; print its path.
# The deployment tests call this (CI too); a machine with Go needs nothing else.
set -euo pipefail
exec bash "$(dirname "$0")/go-install.sh" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION:-v3.22.0}"
