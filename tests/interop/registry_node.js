// @kafkajs/confluent-schema-registry against an evc registry: register, encode, decode.
// usage: node registry_node.js REGISTRY_URL
const assert = require("assert");
const { SchemaRegistry, SchemaType } = require("@kafkajs/confluent-schema-registry");

async function main() {
  const registry = new SchemaRegistry({ host: process.argv[2] });
  const schema = JSON.stringify({
    type: "record", name: "Shipment", namespace: "interop.node",
    fields: [{ name: "id", type: "string" }, { name: "parcels", type: "int" }],
  });
  const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject: "shipments-value" });
  assert.ok(Number.isInteger(id) && id > 0, `id ${id}`);
  const again = await registry.register({ type: SchemaType.AVRO, schema }, { subject: "shipments-value" });
  assert.strictEqual(again.id, id, "same schema, same id");
  assert.strictEqual(await registry.getLatestSchemaId("shipments-value"), id);
  assert.strictEqual(await registry.getRegistryId("shipments-value", 1), id);
  const payload = { id: "s-1", parcels: 3 };
  const buf = await registry.encode(id, payload);
  assert.strictEqual(buf[0], 0, "magic byte");
  assert.strictEqual(buf.readInt32BE(1), id, "schema id");
  assert.deepStrictEqual({ ...(await registry.decode(buf)) }, payload);
  const fetched = await registry.getSchema(id);
  assert.ok(fetched, "schema by id");
  console.log("npm @kafkajs/confluent-schema-registry: ok");
}

main().catch((e) => {
  console.error("FAILED:", e);
  process.exit(1);
});
