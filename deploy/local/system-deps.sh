#!/usr/bin/env bash
# system-deps.sh [run|test]: checks what Helpline needs from the system and, as root, installs
# what is missing from Debian. Idempotent.
#   run  (make run):  Python 3.11+, Java 17+ and Maven (the local Kafka broker). Nothing else:
#                     a non-root user who has these three runs Helpline.
#   test (make test): also what only the tests use: PostgreSQL, Dovecot, kcat, the docker CLI
#                     and Go (which builds Helm, Toxiproxy and docker compose for the tests).
set -euo pipefail

mode="${1:-run}"
case "$mode" in
  run|test) ;;
  *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()    # Debian packages that would fix it
problems=()   # what is wrong, in words

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  problems+=("Python 3.11+ ($python is missing or older)")
fi

java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.12"' or 'java version "1.8.0_412"'.
  local version
  version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  case "$version" in
    1.*) version="${version#1.}" ;;
  esac
  echo "${version%%[.+_-]*}"
}
if ! command -v java >/dev/null; then
  missing+=(default-jre-headless); problems+=("Java 17+ (java not on PATH)")
elif [ "$(java_major)" -lt 17 ] 2>/dev/null || [ -z "$(java_major)" ]; then
  missing+=(default-jre-headless); problems+=("Java 17+ (java is version $(java_major))")
fi
command -v mvn >/dev/null || { missing+=(maven); problems+=("Maven (mvn not on PATH)"); }

if [ "$mode" = test ]; then
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v kcat >/dev/null || missing+=(kcat)  # partners' Kafka CLI, shown in docs/partners.md
  # The docker CLI runs `docker compose config` in the deployment tests; the engine (dockerd) and
  # debootstrap build the images (make images) and run the compose stack in the image tests.
  command -v docker >/dev/null && command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  # A private Dovecot is the IMAP server of intake's poller tests.
  test -x /usr/sbin/dovecot && test -e /usr/lib/dovecot/imap || missing+=(dovecot-imapd)
  # deploy/tools/go-install.sh builds Helm, Toxiproxy and docker compose for the tests.
  command -v go >/dev/null || missing+=(golang-go)
  # The workspace's browser tests drive Debian's Chromium with Playwright (no browser download).
  test -x /usr/bin/chromium || missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ] && [ ${#problems[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || [ ${#missing[@]} -eq 0 ]; then
  echo "make $mode needs what is missing here:" >&2
  for problem in "${problems[@]+"${problems[@]}"}"; do echo "  - $problem" >&2; done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "  - Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
  fi
  exit 1
fi
echo "installing ${missing[*]} from apt..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "make $mode needs Python 3.11+ ($python is missing or older)" >&2
  exit 1
fi
