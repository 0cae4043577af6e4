"""The local stand-in for AWS IoT Core: an MQTT 3.1.1 broker for the trucks'
sensors and the telemetry topic rule that forwards their readings to Kinesis.

Modules:

- `mqtt`: the MQTT 3.1.1 packets the broker reads and writes, and topic matching;
- `rule`: the topic rule (`infra/template.yaml`'s `TelemetryTopicRule`) as a function;
- `auth`: device credentials checked against the deployed auth API, with a cache;
- `forwarder`: batched `PutRecords` into the telemetry stream, in order per device,
  retried until Kinesis has each record;
- `broker`: the server that ties them together;
- `stack`: the deployed stack's outputs (`localstack/.state/outputs.json`).

Run it with `localstack/iot-broker start` (see localstack/README.md).
"""
