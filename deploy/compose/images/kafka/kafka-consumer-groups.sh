#!/bin/bash
KAFKA_HEAP_OPTS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
