#!/usr/bin/env bash
# `make run`: migrate, create the demo login, start the cloud simulator with demo data and the web server.
# With CLOUD_ENDPOINT pointing elsewhere (the real cloud), the simulator is not started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG=${DEBUG:-1}
WEB_PORT=${PORT:-8000}
SIM_PORT=${DCSIM_PORT:-8790}
export CLOUD_ENDPOINT=${CLOUD_ENDPOINT:-http://127.0.0.1:$SIM_PORT}
mkdir -p var

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [[ "$CLOUD_ENDPOINT" == "http://127.0.0.1:$SIM_PORT" ]]; then
    $BIN/python -m dcsim --host 127.0.0.1 --port "$SIM_PORT" --seed demo >>var/dcsim.log 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        curl -fsS "http://127.0.0.1:$SIM_PORT/_dcsim/state" >/dev/null 2>&1 && break
        sleep 0.2
    done
    echo "Cloud simulator: http://127.0.0.1:$SIM_PORT (demo data; log in var/dcsim.log)"
fi

$BIN/python manage.py migrate --noinput
$BIN/python manage.py create_demo_users

echo
echo "dcportal: http://127.0.0.1:$WEB_PORT/"
if [[ "$DEBUG" =~ ^(1|true|True|yes|on)$ ]]; then
    echo "Log in as one of the demo users listed in README.md (e.g. engineer / dcportal-demo)."
fi
echo "Press Ctrl-C to stop."
echo
$BIN/python manage.py runserver "127.0.0.1:$WEB_PORT" &
pids+=($!)
wait -n "${pids[@]}"
