#!/usr/bin/env bash
# `make images`: the base image (once), every service image (services/*/Dockerfile) and the local
# stand-ins for the compose file's third-party images, all on this machine's Docker engine
# (started by dockerd.sh when none answers, stopped again afterwards). No image registry needed.
# Tags: helpline-NAME:$HELPLINE_IMAGE_TAG (default local). Layers are cached between runs.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TAG="${HELPLINE_IMAGE_TAG:-local}"
BASE="${HELPLINE_BASE_IMAGE:-helpline-base:bookworm}"
PYTHON="${PYTHON:-python3}"
# The classic builder: BuildKit would fetch its frontend image from a registry.
export DOCKER_BUILDKIT=0

if [ -z "${DOCKER_HOST:-}" ] && ! docker version >/dev/null 2>&1; then
  host="$(bash "$HERE/dockerd.sh" host)"
  export DOCKER_HOST="${host#DOCKER_HOST=}"
  if ! docker version >/dev/null 2>&1; then
    bash "$HERE/dockerd.sh" start >/dev/null
    trap 'bash "$HERE/dockerd.sh" stop' EXIT
  fi
fi

HELPLINE_BASE_IMAGE="$BASE" bash "$HERE/build-base.sh"

# pip inside a build reaches the index the way pip on this machine does: same CA bundle, same
# index settings (read from `pip config list`, so no host name is written into the repository).
config="$HERE/build-config"
pip_settings="$("$PYTHON" -m pip config list 2>/dev/null || true)"
setting() { sed -n "s/^[^.]*\.$1='\(.*\)'$/\1/p" <<<"$pip_settings" | head -1; }
ca_file="$(setting cert)"
ca_file="${ca_file:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
cp "$ca_file" "$config/ca-certificates.crt"
{
  echo "[global]"
  echo "cert = /src/build-config/ca-certificates.crt"
  for key in index-url extra-index-url trusted-host timeout default-timeout; do
    value="$(setting "$key")"
    [ -z "$value" ] || echo "$key = $value"
  done
} >"$config/pip.conf"

build() {  # build NAME CONTEXT [docker build options...]
  local name="$1" context="$2" start=$SECONDS
  shift 2
  echo "== helpline-$name:$TAG" >&2
  docker build --quiet --build-arg "BASE_IMAGE=$BASE" -t "helpline-$name:$TAG" "$@" "$context" >&2
  echo "   built in $((SECONDS - start)) s" >&2
}

for dockerfile in "$REPO"/services/*/Dockerfile; do
  name="$(basename "$(dirname "$dockerfile")")"
  build "$name" "$REPO" -f "$dockerfile"
done

# Kafka's jars: the broker's (deploy/local/pom.xml) plus kafka-tools, fetched once per pom change.
libs="$HERE/kafka/libs"
stamp="$(cat "$REPO/deploy/local/pom.xml" "$HERE/kafka/pom.xml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$libs/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$libs"
  mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs" >&2
  echo "$stamp" >"$libs/.stamp"
fi
build kafka "$HERE/kafka"
build postgres "$HERE/postgres"
build mailsink "$REPO" -f "$HERE/mailsink/Dockerfile"

docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E "^helpline-[a-z]+:($TAG|bookworm)\b" | sort
