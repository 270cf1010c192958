#!/usr/bin/env bash
# Fuzzes the relay's HTTP API with schemathesis (PyPI, pinned in relay/tools/requirements.txt,
# installed into .cache/venv-relay) against its own OpenAPI document: a relay on a free port
# of 127.0.0.1 over a fresh SQLite file, a platform admin's token on every request. Checks
# that no input gets a 5xx and that every answer matches the document (status codes, content
# types, body schemas), and that invalid input is refused. Bounded to a few examples per
# operation so it takes about a minute on 2 cores. Exits non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$repo/.cache/venv-relay"
requirements="$repo/relay/tools/requirements.txt"
max_examples="${DIPPER_SCHEMATHESIS_EXAMPLES:-15}"

echo "==> schemathesis against the relay"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  echo "==> installing schemathesis into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

cd "$repo"
# scripts/test passes the binary its nextest run just built (building it again here, with
# another selection of packages and features, would rebuild dependencies).
bin="${DIPPER_RELAY_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p relay --bin dipper-relay
  bin="${CARGO_TARGET_DIR:-$repo/target}/debug/dipper-relay"
fi
work="$(mktemp -d)"
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export DIPPER_RELAY__DATABASE__URL="sqlite://$work/relay.sqlite3"
# The disk object store's folder (its /objects/ routes are fuzzed too), out of the repo.
export DIPPER_RELAY__OBJECTS__DIR="$work/objects"
export DIPPER_RELAY__AUTH__ARGON2__MEMORY_KIB=64
export DIPPER_RELAY__AUTH__ARGON2__ITERATIONS=1
# Every rate limit out of the way: the fuzzer sends far more than a person would.
for limit in PER_USER PER_TENANT; do
  export "DIPPER_RELAY__LIMITS__${limit}_PER_SECOND=100000" "DIPPER_RELAY__LIMITS__${limit}_BURST=100000"
done
for limit in LOGIN_PER_ADDRESS ACTIVATE_PER_ADDRESS ACTIVATE_PER_DEVICE; do
  export "DIPPER_RELAY__LIMITS__${limit}_PER_MINUTE=100000" "DIPPER_RELAY__LIMITS__${limit}_BURST=100000"
done
password="schemathesis password"
echo "$password" | "$bin" admin create --email root@dipper.test --password-stdin >/dev/null
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
DIPPER_RELAY__SERVER__LISTEN="127.0.0.1:$port" RUST_LOG=warn "$bin" run 2>"$work/relay.log" &
relay_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
token="$(curl -fsS -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"root@dipper.test\",\"password\":\"$password\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

status=0
# One worker: with two, hypothesis parses lambdas' source with Python 3.11's `ast` from two
# threads at once, which sometimes fails inside Python ("AST constructor recursion depth
# mismatch") and counts as an error of the run.
# From the temporary directory, so schemathesis's cache (.schemathesis/) stays out of the repo.
cd "$work"
"$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --workers 1 \
  --seed 1 \
  --suppress-health-check too_slow,filter_too_much \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed; the relay's log:" >&2
  tail -n 50 "$work/relay.log" >&2
fi
exit "$status"
