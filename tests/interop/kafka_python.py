"""Confluent's Python client through a Kafka-protocol broker and an evc registry.

usage:
  kafka_python.py produce BOOTSTRAP REGISTRY TOPIC SCHEMA_FILE COUNT   # AvroSerializer, keyed by order_id
  kafka_python.py consume BOOTSTRAP REGISTRY TOPIC COUNT               # AvroDeserializer, JSON lines out
"""
import json
import sys
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

mode, bootstrap, registry, topic = sys.argv[1:5]
client = SchemaRegistryClient({"url": registry})

if mode == "produce":
    schema, count = open(sys.argv[5]).read(), int(sys.argv[6])
    ser = AvroSerializer(client, schema, conf={
        "auto.register.schemas": True,
        "subject.name.strategy": topic_record_subject_name_strategy,
    })
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for i in range(count):
        order = str(uuid.UUID(int=1000 + i))
        value = {
            "event_id": str(uuid.UUID(int=2000 + i)),
            "order_id": order,
            "occurred_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
            "customer_id": f"py-{i}",
            "currency": "EUR",
            "channel": "WEB",
            "shipping_address": None,
        }
        p.produce(topic, key=order.encode(), value=ser(value, SerializationContext(topic, MessageField.VALUE)))
    left = p.flush(30)
    if left:
        sys.exit(f"{left} messages not delivered")
    print(f"produced {count}")
elif mode == "consume":
    count = int(sys.argv[5])
    de = AvroDeserializer(client)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "python-interop", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    got, deadline = 0, time.time() + 60
    while got < count and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            print(f"error: {m.error()}", file=sys.stderr)
            continue
        v = de(m.value(), SerializationContext(topic, MessageField.VALUE))
        print(json.dumps({"key": m.key().decode(), "value": v}, default=str))
        got += 1
    c.close()
    if got < count:
        sys.exit(f"consumed {got} of {count}")
