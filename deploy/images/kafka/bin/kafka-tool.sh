#!/bin/bash
# Run one class of kafka-tools under the name of the apache/kafka script that starts it, so the
# compose file's commands (kafka-topics.sh, kafka-broker-api-versions.sh) work unchanged.
set -euo pipefail
case "$(basename "$0")" in
  kafka-topics.sh) class=org.apache.kafka.tools.TopicCommand ;;
  kafka-broker-api-versions.sh) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  *) echo "unknown Kafka tool $(basename "$0")" >&2; exit 2 ;;
esac
exec java -Xmx128m -XX:TieredStopAtLevel=1 -cp '/opt/kafka/libs/*' "$class" "$@"
