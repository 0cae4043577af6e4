#!/usr/bin/env bash
# Prints an API Gateway REST proxy event for POST /v1/telemetry whose readings
# carry current timestamps, so the function accepts them (it rejects a `ts`
# older than 7 days, which the committed post-*.json samples become).
#
# Usage: make-batch.sh [good|mixed] > /tmp/telemetry-event.json
#   good   3 valid readings                      -> 200
#   mixed  2 valid + 1 with lat 99, temp 500 °C  -> 207
#
# Then: cargo lambda invoke telemetry-ingest --data-file /tmp/telemetry-event.json
set -euo pipefail

kind="${1:-good}"
now_ms=$(( $(date -u +%s) * 1000 ))
now_rfc3339=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# reading DEVICE TS LAT LON TEMPERATURE_C VIBRATION_G  (TS: epoch ms or a quoted RFC 3339 string)
reading() {
  printf '{"device_id":"%s","shipment_id":"SHP-2026-0001","ts":%s,"lat":%s,"lon":%s,"temperature_c":%s,"vibration_g":%s}' "$@"
}

first=$(reading truck-0042 "$(( now_ms - 120000 ))" 52.3702 4.8952 5.4 0.12)
last=$(reading truck-0043 "\"${now_rfc3339}\"" 51.9244 4.4777 -18.2 0.05)
case "$kind" in
  good)  middle=$(reading truck-0042 "$(( now_ms - 60000 ))" 52.3711 4.8969 5.6 0.31) ;;
  mixed) middle=$(reading truck-0042 "$(( now_ms - 60000 ))" 99 4.8969 500 0.31) ;;
  *) echo "usage: $0 [good|mixed]" >&2; exit 2 ;;
esac

body="{\"readings\":[${first},${middle},${last}]}"
escaped=${body//\"/\\\"}

cat <<JSON
{
  "resource": "/v1/telemetry",
  "path": "/v1/telemetry",
  "httpMethod": "POST",
  "headers": {
    "Content-Type": "application/json",
    "Host": "localhost:4566",
    "User-Agent": "pharmaguard-device/1.0"
  },
  "multiValueHeaders": {
    "Content-Type": ["application/json"],
    "Host": ["localhost:4566"],
    "User-Agent": ["pharmaguard-device/1.0"]
  },
  "queryStringParameters": null,
  "multiValueQueryStringParameters": null,
  "pathParameters": null,
  "stageVariables": null,
  "requestContext": {
    "accountId": "000000000000",
    "apiId": "pharmaguard",
    "resourceId": "tlm001",
    "resourcePath": "/v1/telemetry",
    "httpMethod": "POST",
    "path": "/local/v1/telemetry",
    "stage": "local",
    "protocol": "HTTP/1.1",
    "authorizer": {"principalId": "driver-0007", "kind": "user", "org": "org-operator", "role": "DRIVER"},
    "requestId": "make-batch-${now_ms}",
    "requestTimeEpoch": ${now_ms},
    "identity": { "sourceIp": "127.0.0.1", "userAgent": "pharmaguard-device/1.0" }
  },
  "body": "${escaped}",
  "isBase64Encoded": false
}
JSON
