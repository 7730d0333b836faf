#!/usr/bin/env bash
# Regenerate the Strimzi CRDs from the Maven artifacts named in pom.xml (needs Maven and Java 17).
set -euo pipefail
cd "$(dirname "$0")"
classpath="$(mktemp)"
trap 'rm -f "$classpath"' EXIT
mvn -q dependency:build-classpath -Dmdep.outputFile="$classpath"
java -cp "$(cat "$classpath")" io.strimzi.crdgenerator.CrdGenerator --yaml \
    --api-versions v1beta2 --storage-version v1beta2 \
    "io.strimzi.api.kafka.model.topic.KafkaTopic=$PWD/kafka.strimzi.io_kafkatopics.yaml" \
    "io.strimzi.api.kafka.model.user.KafkaUser=$PWD/kafka.strimzi.io_kafkausers.yaml"
