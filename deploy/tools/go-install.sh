#!/usr/bin/env bash
# go-install.sh NAME PACKAGE VERSION: build a Go command with `go install PACKAGE@VERSION` once,
# cache it outside the work tree as ~/.cache/helpline/bin/NAME-VERSION and print its path.
# The build runs outside any module, so the repository's own files play no part.
set -euo pipefail
NAME="$1" PACKAGE="$2" VERSION="$3"
CACHE="${HELPLINE_CACHE:-$HOME/.cache/helpline}"
BIN="$CACHE/bin/$NAME-$VERSION"
if [[ ! -x "$BIN" ]]; then
    mkdir -p "$CACHE/bin" "$CACHE/gopath"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    echo "building $NAME $VERSION with $(go version) (once)" >&2
    (cd "$work" && GOPATH="$CACHE/gopath" GOBIN="$work" GOFLAGS=-mod=mod \
        go install "$PACKAGE@$VERSION") >&2
    mv "$work/$(basename "$PACKAGE")" "$BIN"
fi
echo "$BIN"
