#!/bin/bash
# Start a KRaft Kafka node configured like the apache/kafka image: each KAFKA_FOO_BAR variable
# becomes foo.bar (`__` stands for `_`, `___` for `-`). Formats the log directory once.
set -euo pipefail
CONFIG=/tmp/kafka/server.properties
mkdir -p /tmp/kafka
: >"$CONFIG"
for var in $(compgen -e | grep '^KAFKA_' | sort); do
  case "$var" in
    # Options of the JVM, not of the broker.
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS) continue ;;
  esac
  key="$(tr 'A-Z' 'a-z' <<<"${var#KAFKA_}")"
  key="${key//___/-}"
  key="${key//__/@}"
  key="${key//_/.}"
  key="${key//@/_}"
  printf '%s=%s\n' "$key" "${!var}" >>"$CONFIG"
done
grep -q '^log\.dirs=' "$CONFIG" || echo "log.dirs=/var/lib/kafka/data" >>"$CONFIG"
log_dir="$(sed -n 's/^log\.dirs=//p' "$CONFIG" | cut -d, -f1)"
if [ ! -f "$log_dir/meta.properties" ]; then
  # A fixed voter set (controller.quorum.voters) is formatted as is; otherwise this node is
  # the standalone controller of a dynamic quorum.
  standalone=--standalone
  grep -q '^controller\.quorum\.voters=' "$CONFIG" && standalone=
  java -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format $standalone \
    -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$CONFIG" --ignore-formatted
fi
# shellcheck disable=SC2086  # the option variables hold several words
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_JVM_PERFORMANCE_OPTS:-} ${KAFKA_OPTS:-} \
  -cp '/opt/kafka/libs/*' kafka.Kafka "$CONFIG"
