#!/usr/bin/env bash
# Kafka for docker-compose.yml: one KRaft node whose clients authenticate with SCRAM-SHA-512 under ACLs.
# The SCRAM users are written into the storage when it is formatted (the first start of the volume);
# the controller listener takes PLAIN with the admin as its only user (a controller cannot check SCRAM
# credentials: they live in the metadata it serves). Passwords come from the environment.
set -euo pipefail
: "${KAFKA_ADMIN_PASSWORD:?}" "${KAFKA_SALES_WRITER_PASSWORD:?}" "${KAFKA_PROJECTOR_PASSWORD:?}"
: "${KAFKA_AUTH_PASSWORD:?}" "${KAFKA_GATEWAY_PASSWORD:?}"
umask 077
config=/tmp/server.properties
jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${KAFKA_ADMIN_PASSWORD}\";"
cat > "$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=BROKER://:9092,CONTROLLER://:9093
advertised.listeners=BROKER://kafka:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=BROKER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,BROKER:SASL_PLAINTEXT
listener.name.broker.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.broker.scram-sha-512.sasl.jaas.config=${jaas_scram}
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}" user_admin="${KAFKA_ADMIN_PASSWORD}";
sasl.mechanism.controller.protocol=PLAIN
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
PROPERTIES
# What the healthcheck and the ACL setup connect with.
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=${jaas_scram}
PROPERTIES
# Only kafka-run-class.sh and kafka-broker-api-versions.sh are used, which the official image and the
# stand-in of `make test-compose` both have.
run=/opt/kafka/bin/kafka-run-class.sh
KAFKA_HEAP_OPTS="-Xmx128m" "$run" kafka.tools.StorageTool format --ignore-formatted -c "$config" \
  -t "${KAFKA_CLUSTER_ID:-4L6g3nShT-eMCtK--X86sw}" \
  --add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=sales-writer,password=${KAFKA_SALES_WRITER_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=mongo-projector,password=${KAFKA_PROJECTOR_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=auth,password=${KAFKA_AUTH_PASSWORD}]" \
  --add-scram "SCRAM-SHA-512=[name=gateway,password=${KAFKA_GATEWAY_PASSWORD}]" >/dev/null
(
  # The ACLs, once the broker answers (adding an ACL that exists changes nothing).
  acl() {
    # a quick start of a short-lived JVM: its first compiler only, the serial collector
    KAFKA_HEAP_OPTS="-Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC" "$run" org.apache.kafka.tools.AclCommand \
      --bootstrap-server localhost:9092 --command-config /tmp/admin.properties --add "$@" >/dev/null
  }
  until /opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092 \
    --command-config /tmp/admin.properties >/dev/null 2>&1; do sleep 2; done
  acl --allow-principal User:sales-writer --operation Write --operation Describe --topic sales.events
  acl --allow-principal User:sales-writer --operation Create --topic sales.events --topic sales.events.dlq
  acl --allow-principal User:mongo-projector --operation Read --operation Describe --topic sales.events \
    --group mongo-projector
  # Read: the replication panel lists the dead letters (by assignment, no group).
  acl --allow-principal User:mongo-projector --operation Write --operation Describe --operation Read --topic sales.events.dlq
  acl --allow-principal User:mongo-projector --operation Create --topic sales.events --topic sales.events.dlq
  # Account events: auth makes and writes them; the readers assign partitions themselves (no group).
  acl --allow-principal User:auth --operation Write --operation Describe --operation Create \
    --topic auth.account-events
  acl --allow-principal User:gateway --allow-principal User:sales-writer --allow-principal User:mongo-projector \
    --operation Read --operation Describe --topic auth.account-events
  touch /tmp/acls-ready
) &
# The broker's logging as kafka-server-start.sh sets it (the stand-in's kafka-run-class.sh has its own).
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m} exec "$run" kafka.Kafka "$config"
