#!/usr/bin/env bash
# A private Docker engine for building and running Helpline's images on this machine (root).
#   dockerd.sh start   start it unless it already answers; prints DOCKER_HOST=...
#   dockerd.sh stop    stop it (callers stop only an engine they started)
#   dockerd.sh host    print DOCKER_HOST=... of the engine
# Its images, volumes and socket live in $HELPLINE_CACHE/docker (default ~/.cache/helpline), so
# images survive between runs and no system engine or systemd unit is touched.
set -euo pipefail
CACHE="${HELPLINE_CACHE:-$HOME/.cache/helpline}"
ROOT="$CACHE/docker"
SOCKET="$ROOT/docker.sock"
PIDFILE="$ROOT/dockerd.pid"
HOST="unix://$SOCKET"
# overlay2 works here; vfs is the fallback for kernels or file systems without overlayfs.
STORAGE_DRIVER="${HELPLINE_DOCKER_STORAGE_DRIVER:-overlay2}"

answers() { DOCKER_HOST="$HOST" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

case "${1:-}" in
  start)
    mkdir -p "$ROOT"
    if ! answers; then
      command -v dockerd >/dev/null || { echo "dockerd missing: apt-get install docker.io" >&2; exit 1; }
      [ "$(id -u)" -eq 0 ] || { echo "the Docker engine needs root" >&2; exit 1; }
      rm -f "$SOCKET"
      # setsid: the engine outlives this script and ignores the caller's Ctrl-C.
      setsid dockerd --data-root "$ROOT/data" --exec-root "$ROOT/exec" --pidfile "$PIDFILE" \
        --host "$HOST" --storage-driver "$STORAGE_DRIVER" ${HELPLINE_DOCKERD_FLAGS:-} \
        >"$ROOT/dockerd.log" 2>&1 </dev/null &
      for _ in $(seq 120); do answers && break; sleep 0.5; done
      answers || { tail -20 "$ROOT/dockerd.log" >&2; echo "dockerd did not start" >&2; exit 1; }
    fi
    echo "DOCKER_HOST=$HOST"
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid="$(cat "$PIDFILE")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    ;;
  host)
    echo "DOCKER_HOST=$HOST"
    ;;
  *)
    echo "usage: $0 start|stop|host" >&2
    exit 2
    ;;
esac
