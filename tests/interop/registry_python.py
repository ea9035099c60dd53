"""Confluent's Python client against an evc registry: schema registry client calls and the
Avro serializer/deserializer round trip, with auto-registration on and off.

usage: python registry_python.py REGISTRY_URL
Exits non-zero (with the reason) on any disagreement.
"""
import json
import sys

from confluent_kafka.schema_registry import (
    Metadata, MetadataProperties, MetadataTags, Rule, RuleKind, RuleMode, RuleSet, Schema,
    SchemaRegistryClient, ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

url = sys.argv[1]
client = SchemaRegistryClient({"url": url})

V1 = json.dumps({
    "type": "record", "name": "Payment", "namespace": "interop.py",
    "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"}],
})
V2 = json.dumps({
    "type": "record", "name": "Payment", "namespace": "interop.py",
    "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"},
               {"name": "note", "type": ["null", "string"], "default": None}],
})
BREAK = json.dumps({
    "type": "record", "name": "Payment", "namespace": "interop.py",
    "fields": [{"name": "id", "type": "long"}],
})


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)


subject = "payments-value"
id1 = client.register_schema(subject, Schema(V1, "AVRO"))
check(client.register_schema(subject, Schema(V1, "AVRO")) == id1, "re-registering returns the same id")
id2 = client.register_schema(subject, Schema(V2, "AVRO"))
check(id2 != id1, "a new version gets a new id")
latest = client.get_latest_version(subject)
check(latest.version == 2 and latest.schema_id == id2, f"latest is v2: {latest}")
check(json.loads(client.get_schema(id1).schema_str)["name"] == "Payment", "schema by id")
check(client.get_subjects() == [subject], "subjects")
check(client.get_versions(subject) == [1, 2], "versions")
found = client.lookup_schema(subject, Schema(V1, "AVRO"))
check(found.schema_id == id1 and found.version == 1, f"lookup: {found}")
check(client.test_compatibility(subject, Schema(V2, "AVRO")) is True, "compatible")
check(client.test_compatibility(subject, Schema(BREAK, "AVRO")) is False, "incompatible")
try:
    client.register_schema(subject, Schema(BREAK, "AVRO"))
    check(False, "an incompatible schema must be refused")
except SchemaRegistryError as e:
    check(e.http_status_code == 409, f"409 for incompatible, got {e.http_status_code}")
client.set_compatibility(subject, "FULL")
check(client.get_compatibility(subject) == "FULL", "subject compatibility")
try:
    client.get_schema(99999)
    check(False, "unknown id must fail")
except SchemaRegistryError as e:
    check(e.error_code == 40403, f"40403 for an unknown id, got {e.error_code}")

# Serializer / deserializer, auto-registration on.
ctx = SerializationContext("orders-py", MessageField.VALUE)
ser = AvroSerializer(client, V2, conf={"auto.register.schemas": True})
de = AvroDeserializer(client)
value = {"id": "p-1", "cents": 1999, "note": "hi"}
data = ser(value, ctx)
check(data[0] == 0, "magic byte")
check(de(data, ctx) == value, "round trip with auto-registration")

# Auto-registration off: the schema must already be registered, and it is looked up.
ser2 = AvroSerializer(client, V2, conf={"auto.register.schemas": False})
data2 = ser2(value, ctx)
check(int.from_bytes(data2[1:5], "big") == int.from_bytes(data[1:5], "big"), "same id when looked up")
check(de(data2, ctx) == value, "round trip without auto-registration")
unknown = SerializationContext("never-registered", MessageField.VALUE)
try:
    AvroSerializer(client, V1, conf={"auto.register.schemas": False})(value, unknown)
    check(False, "serializing for an unregistered subject must fail")
except Exception as e:  # the client wraps the 40401 in its own error type
    check("40401" in str(e) or "not found" in str(e).lower(), f"unregistered subject: {e}")

# Soft delete, then permanent.
deleted = client.delete_subject(subject)
check(deleted == [1, 2], f"soft delete answers the versions: {deleted}")
check(client.delete_subject(subject, permanent=True) == [1, 2], "permanent delete")
check(json.loads(client.get_schema(id1).schema_str)["name"] == "Payment", "ids stay resolvable after delete")

# Data contracts: metadata and rule sets round-trip through the client's own types.
contracts = "contracts-value"
meta = Metadata(
    tags=MetadataTags({"**.id": ["PII"]}),
    properties=MetadataProperties({"owner": "team-py", "application.version": "1"}),
    sensitive=["secret"],
)
rules = RuleSet(
    migration_rules=[],
    domain_rules=[Rule(name="idNotEmpty", doc="ids are never empty", kind=RuleKind.CONDITION,
                       mode=RuleMode.WRITE, type="CEL", tags=None, params=None,
                       expr="message.id != ''", on_success=None, on_failure="ERROR",
                       disabled=False)],
    encoding_rules=[],
)
registered = client.register_schema_full_response(contracts, Schema(V1, "AVRO", metadata=meta, rule_set=rules))
check(registered.version == 1, f"registered with a contract: {registered}")
latest = client.get_latest_version(contracts)
check(latest.schema.metadata == meta, f"metadata round trip: {latest.schema.metadata} != {meta}")
check(latest.schema.rule_set == rules, f"rule set round trip: {latest.schema.rule_set} != {rules}")
by_id = client.get_schema(registered.schema_id)
check(by_id.metadata == meta and by_id.rule_set == rules, f"contract by id: {by_id}")
# the same text with another contract is another schema
meta2 = Metadata(tags=None, properties=MetadataProperties({"owner": "team-py", "application.version": "2"}), sensitive=None)
v2 = client.register_schema_full_response(contracts, Schema(V2, "AVRO", metadata=meta2))
check(v2.version == 2 and v2.schema_id != registered.schema_id, f"new version: {v2}")
check(v2.schema.rule_set == rules if v2.schema is not None else True, "the rule set is inherited")
found = client.get_latest_with_metadata(contracts, {"application.version": "1"})
check(found.version == 1, f"latest with metadata: {found}")
found = client.get_latest_with_metadata(contracts, {"owner": "team-py"})
check(found.version == 2, f"latest with metadata (both match): {found}")
# config defaults and overrides
client.set_config(contracts, ServerConfig(
    override_metadata=Metadata(tags=None, properties=MetadataProperties({"owner": "platform"}), sensitive=None)))
cfg = client.get_config(contracts)
check(cfg.override_metadata.properties.properties == {"owner": "platform"}, f"config round trip: {cfg}")
V3 = json.dumps({
    "type": "record", "name": "Payment", "namespace": "interop.py",
    "fields": [{"name": "id", "type": "string"}, {"name": "cents", "type": "long"},
               {"name": "note", "type": ["null", "string"], "default": None},
               {"name": "tag", "type": ["null", "string"], "default": None}],
})
client.register_schema(contracts, Schema(V3, "AVRO"))
v3 = client.get_version(contracts, 3)
check(v3.version == 3 and v3.schema.metadata.properties.properties["owner"] == "platform",
      f"override applied: {v3.schema.metadata}")
check(v3.schema.metadata.properties.properties["application.version"] == "2", "inherited from version 2")

print("python confluent-kafka: ok")
