#!/usr/bin/env bash
# ha-check.sh: does a real Home Assistant understand hmm's MQTT discovery?
#
# Builds hmm, starts a private Mosquitto and a throwaway Home Assistant (the harness in
# ../shared/tools/ha, whose setup.sh needs PyPI once), runs `hmm demo --mqtt` twice with
# the same data directory, and reads what HA made of it (states.py). Fails when:
#   - HA's log has a WARNING/ERROR about MQTT or hmm (rejected configs only show there),
#   - a miner entity is unknown/unavailable while its miner is online (restart buttons
#     have no state until pressed; a pool select is unknown while the miner is on a pool
#     that is not configured),
#   - an entity's unit / device_class / state_class differs from what hmm promises,
#   - a miner device lacks manufacturer, model, sw_version or via_device,
#   - unique ids or entity ids change across a restart of hmm.
# Env: HMM_BIN (skip the build), HA_TOOLS, HA_VENV, SETTLE (seconds, default 60), KEEP=1.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${HA_TOOLS:-}" ]; then
    # /work/shared sits beside the checkout (or beside the worktrees' parent).
    for dir in "$ROOT/../shared/tools/ha" "$ROOT/../../shared/tools/ha"; do
        [ -x "$dir/run_ha.sh" ] && HA_TOOLS="$(cd "$dir" && pwd)" && break
    done
fi
[ -n "${HA_TOOLS:-}" ] || { echo "ha-check: set HA_TOOLS to shared/tools/ha" >&2; exit 2; }
export HA_VENV="${HA_VENV:-/tmp/ha-venv}"
SETTLE="${SETTLE:-60}"
WORK="$(mktemp -d /tmp/hmm-ha-check.XXXXXX)"
PY="$HA_VENV/bin/python"
MOSQ_PID="" DEMO_PID=""

cleanup() {
    [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
    [ -f "$WORK/ha/ha.pid" ] && "$HA_TOOLS/stop_ha.sh" "$WORK/ha" >/dev/null 2>&1 || true
    [ -n "$MOSQ_PID" ] && kill "$MOSQ_PID" 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] && echo "work files kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${HMM_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --quiet)
    # Copy it: a shared target directory may be rebuilt by someone else mid-check.
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/debug/hmm" "$WORK/hmm"
    HMM_BIN="$WORK/hmm"
fi

"$HA_TOOLS/setup.sh" >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$MQTT_PORT" >"$WORK/mosquitto.conf"
mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ_PID=$!
"$HA_TOOLS/run_ha.sh" "$MQTT_PORT" "$HTTP_PORT" "$WORK/ha" | tee "$WORK/run_ha.txt"
URL="http://127.0.0.1:$HTTP_PORT"

# One demo run: start it, let HA settle, save HA's view as $1, stop the demo.
demo_run() {
    "$HMM_BIN" demo --mqtt "127.0.0.1:$MQTT_PORT" --web 127.0.0.1:0 \
        --data-dir "$WORK/data" --for 600s >"$WORK/$1.demo.log" 2>&1 &
    DEMO_PID=$!
    sleep "$SETTLE"
    "$PY" "$HA_TOOLS/states.py" "$URL" "@$WORK/ha/token" --platform mqtt --issues \
        --log "$WORK/ha/home-assistant.log" >"$WORK/$1.json"
    local web
    web="$(grep -o 'http://127.0.0.1:[0-9]*/api/miners' "$WORK/$1.demo.log" | head -1)"
    curl -sf "$web" >"$WORK/$1.miners.json"
    kill -INT "$DEMO_PID"
    wait "$DEMO_PID" || true
    DEMO_PID=""
}
demo_run first
demo_run second

"$PY" - "$WORK" <<'EOF'
import json, re, sys
work = sys.argv[1]
first = json.load(open(f"{work}/first.json"))
second = json.load(open(f"{work}/second.json"))
miners = json.load(open(f"{work}/second.miners.json"))
problems = []

# What hmm promises per miner entity key: (unit, device_class, state_class).
EXPECTED = {
    "hashrate": ("TH/s", None, "measurement"),
    "power": ("W", "power", "measurement"),
    "energy": ("kWh", "energy", "total_increasing"),
    "temp": ("°C", "temperature", "measurement"),
    "vr_temp": ("°C", "temperature", "measurement"),
    "efficiency": ("J/TH", None, "measurement"),
    "shares_accepted": (None, None, "total_increasing"),
    "shares_rejected": (None, None, "total_increasing"),
    "best_diff": (None, None, "measurement"),
    "uptime": ("s", "duration", None),
    "price": ("GBP/kWh", None, "measurement"),
    "cost_24h": ("GBP", "monetary", "total"),
}

def online_miners(doc):
    rows = doc.get("miners", doc) if isinstance(doc, dict) else doc
    names = set()
    for row in rows:
        latest = row.get("latest") or {} if isinstance(row, dict) else {}
        if isinstance(row, dict) and (row.get("online") or latest.get("online")):
            names.add(re.sub(r"[^a-z0-9]+", "_", row["name"].lower()).strip("_"))
    return names

online = online_miners(miners)
if not online:
    problems.append("no miner is online according to the demo's /api/miners")
states = {s["entity_id"]: s for s in second["states"]}
entities = second["entities"]
for entity in entities:
    uid = entity["unique_id"]
    state = states.get(entity["entity_id"], {})
    attrs = state.get("attributes", {})
    key = uid.rsplit("-", 1)[-1]
    if key in EXPECTED and "-widget-" not in uid:
        got = (attrs.get("unit_of_measurement"), attrs.get("device_class"), attrs.get("state_class"))
        if got != EXPECTED[key]:
            problems.append(f"{uid}: unit/device_class/state_class {got}, expected {EXPECTED[key]}")
    m = re.match(r".*?-miner-(.+)-([a-z_]+)$", uid)
    if m and m.group(1) in online and state.get("state") in ("unknown", "unavailable", None):
        if entity["entity_id"].startswith("button."):
            continue
        if key == "pool_select" and state.get("state") == "unknown":
            continue
        problems.append(f"{uid}: state {state.get('state')!r} although the miner is online")
    if key == "mode_select":
        extra = set(attrs.get("options", [])) - {"eco", "standard", "turbo", "oc"}
        if extra:
            problems.append(f"{uid}: unexpected options {sorted(extra)}")

for device in second["devices"]:
    if any("-miner-" in str(i) for i in device.get("identifiers", [])):
        for field in ("manufacturer", "model", "sw_version", "via_device_name"):
            if not device.get(field):
                problems.append(f"device {device.get('name')}: no {field}")

for line in second.get("log_problems", []):
    text = str(line)
    if "logging too frequently" in text:
        continue  # HA's rate limit on the harness's INFO-level MQTT logging
    if re.search(r"mqtt|hmm", text, re.I):
        problems.append(f"HA log: {text[:300]}")

ids_first = {e["unique_id"]: e["entity_id"] for e in first["entities"]}
ids_second = {e["unique_id"]: e["entity_id"] for e in second["entities"]}
if set(ids_first) != set(ids_second):
    problems.append(f"unique ids changed across a restart: {sorted(set(ids_first) ^ set(ids_second))}")
for uid in set(ids_first) & set(ids_second):
    if ids_first[uid] != ids_second[uid]:
        problems.append(f"{uid}: entity id changed {ids_first[uid]} -> {ids_second[uid]}")

per_device = {}
for entity in entities:
    per_device[entity["device_name"]] = per_device.get(entity["device_name"], 0) + 1
print(f"HA {second['ha_version']}: {len(entities)} hmm entities; per device: {per_device}")
for problem in problems:
    print("FAIL", problem)
print("ha-check:", "FAILED" if problems else "passed")
sys.exit(1 if problems else 0)
EOF
