#!/usr/bin/env bash
# Installs what Helpline needs from Debian when it is missing: Java 17+ and Maven (the local
# Kafka broker), PostgreSQL (the integration and end-to-end tests). Idempotent.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v kcat >/dev/null || missing+=(kcat)  # partners' Kafka CLI, shown in docs/partners.md
# The docker CLI runs `docker compose config` in the deployment tests; the engine (dockerd) and
# debootstrap build the images (make images) and run the compose stack in the image tests.
command -v docker >/dev/null && command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
# A private Dovecot is the IMAP server of intake's poller tests.
test -x /usr/sbin/dovecot && test -e /usr/lib/dovecot/imap || missing+=(dovecot-imapd)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} from apt..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
