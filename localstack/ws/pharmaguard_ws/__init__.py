"""The local stand-in for API Gateway's WebSocket API: a gateway that accepts
WebSocket clients, invokes PharmaGuard's ws-* functions through LocalStack's
Lambda API with the events API Gateway sends, and serves the `@connections`
management API the functions post to.

Modules:

- `events`: the event shapes, ids and route selection, and how answers are read (pure);
- `invoker`: Lambda `Invoke` through LocalStack;
- `gateway`: the server (WebSocket handshake and frames, `@connections`, limits);
- `stack`: the deployed stack's outputs (`localstack/.state/outputs.json`).

Run it with `localstack/ws-gateway start` (see localstack/README.md).
"""
