#!/usr/bin/env bash
# Build the Docker Compose CLI plugin from its Go module once, cache it outside the work tree and
# print its path. Only `docker compose config` uses it here: that needs no Docker engine.
set -euo pipefail
COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
CACHE="${HELPLINE_CACHE:-$HOME/.cache/helpline}"
BIN="$CACHE/bin/docker-compose-$COMPOSE_VERSION"
if [[ ! -x "$BIN" ]]; then
    mkdir -p "$CACHE/bin" "$CACHE/gopath"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "building docker compose $COMPOSE_VERSION with $(go version) (several minutes, once)" >&2
    # `go install module@version` refuses modules whose go.mod has exclude directives, so the
    # build goes through a throwaway module repeating compose's own excludes.
    cat > "$work/go.mod" <<'MOD'
module helpline.local/composebuild

go 1.24

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
MOD
    (cd "$work" && export GOPATH="$CACHE/gopath" GOFLAGS=-mod=mod \
        && go get "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION" \
        && go build -o "$work/docker-compose" github.com/docker/compose/v2/cmd) >&2
    mv "$work/docker-compose" "$BIN"
fi
echo "$BIN"
