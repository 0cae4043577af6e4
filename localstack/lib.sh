# Shared settings of the local stack scripts; sourced, not run.
# shellcheck shell=bash

LS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LS_DIR/.." && pwd)
# Everything the local stack installs or writes lives here (git-ignored).
STATE_DIR=${PHARMAGUARD_STATE_DIR:-$LS_DIR/.state}
VENV_DIR=$STATE_DIR/venv
FS_ROOT=$STATE_DIR/filesystem
LOG_DIR=$STATE_DIR/logs
PID_FILE=$STATE_DIR/localstack.pid
OUTPUTS_FILE=$STATE_DIR/outputs.json

LOCALSTACK_PORT=${LOCALSTACK_PORT:-4566}
ENDPOINT=http://127.0.0.1:$LOCALSTACK_PORT
export AWS_REGION=${AWS_REGION:-eu-central-1}
export AWS_DEFAULT_REGION=$AWS_REGION
STACK_NAME=${STACK_NAME:-pharmaguard-local}

# The local IoT Core stand-in (localstack/iot-broker): MQTT broker + telemetry rule.
IOT_HOST=${PHARMAGUARD_IOT_HOST:-127.0.0.1}
IOT_PORT=${PHARMAGUARD_IOT_PORT:-1883}
IOT_PID_FILE=$STATE_DIR/iot-broker.pid
IOT_LOG=$LOG_DIR/iot-broker.log

# The local stand-in for API Gateway's WebSocket API (localstack/ws-gateway): WebSocket
# endpoint and @connections management API on one port.
WS_HOST=${PHARMAGUARD_WS_HOST:-127.0.0.1}
WS_PORT=${PHARMAGUARD_WS_PORT:-4600}
WS_PID_FILE=$STATE_DIR/ws-gateway.pid
WS_LOG=$LOG_DIR/ws-gateway.log

LOCALSTACK_VERSION=2026.3.0
JAVA_MIN=17

# The Kinesis server behind LocalStack's Kinesis endpoint (see README, "Kinesis").
FERROKINESIS_VERSION=0.7.0
# Built once per machine, outside the repository, so that every clone reuses it.
FERROKINESIS_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/pharmaguard/ferrokinesis-$FERROKINESIS_VERSION
FERROKINESIS_BIN=$STATE_DIR/bin/ferrokinesis

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
warn() { printf '\033[33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# The AWS CLI that comes with LocalStack's runtime, pointed at LocalStack with its
# test account's credentials (LocalStack accepts any; real ones are never needed).
awsl() {
  env -u AWS_SESSION_TOKEN -u AWS_PROFILE AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_ENDPOINT_URL="$ENDPOINT" \
    "$VENV_DIR/bin/aws" --endpoint-url "$ENDPOINT" "$@"
}

find_python313() {
  local candidate
  for candidate in "${PYTHON313:-}" "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
    /usr/local/bin/python3.13 /usr/bin/python3.13 "$(command -v python3.13 2>/dev/null)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] &&
      "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null &&
      { echo "$candidate"; return 0; }
  done
  return 1
}

java_major() {
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

is_running() {
  [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

iot_broker_running() {
  [ -f "$IOT_PID_FILE" ] && kill -0 "$(cat "$IOT_PID_FILE")" 2>/dev/null
}

ws_gateway_running() {
  [ -f "$WS_PID_FILE" ] && kill -0 "$(cat "$WS_PID_FILE")" 2>/dev/null
}

is_healthy() {
  curl -fsS --max-time 2 "$ENDPOINT/_localstack/health" >/dev/null 2>&1
}
