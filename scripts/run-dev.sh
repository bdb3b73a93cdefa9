#!/usr/bin/env bash
# `make run`: migrate, create the demo logins, start the cloud simulator with demo data, sync once, then run
# the task worker, the scheduler and the web server until Ctrl-C (which stops all of them).
# With CLOUD_ENDPOINT pointing elsewhere (the real cloud), the simulator is not started.
set -euo pipefail
# Job control: each child gets its own process group, so stopping one also stops what it spawned
# (runserver's and db_worker's autoreloaders run the real server in a child process).
set -m
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG=${DEBUG:-1}
WEB_PORT=${PORT:-8000}
SIM_PORT=${DCSIM_PORT:-8790}
export CLOUD_ENDPOINT=${CLOUD_ENDPOINT:-http://127.0.0.1:$SIM_PORT}
mkdir -p var

pids=()
stopping=0
cleanup() {
    [[ $stopping == 1 ]] && return
    stopping=1
    trap - INT TERM
    set +m  # no job-status chatter while stopping
    echo
    echo "Stopping dcportal..."
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    # Give each a few seconds to finish (the worker completes its current task), then insist.
    for _ in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # start NAME LOGFILE COMMAND...: run in the background, remember its process group
    local name=$1 log=$2
    shift 2
    "$@" >>"$log" 2>&1 &
    pids+=($!)
    echo "$name started (log in $log)"
}

if [[ "$CLOUD_ENDPOINT" == "http://127.0.0.1:$SIM_PORT" ]]; then
    start "Cloud simulator on http://127.0.0.1:$SIM_PORT (demo data)" var/dcsim.log \
        $BIN/python -m dcsim --host 127.0.0.1 --port "$SIM_PORT" --seed demo
    for _ in $(seq 50); do
        curl -fsS "http://127.0.0.1:$SIM_PORT/_dcsim/state" >/dev/null 2>&1 && break
        sleep 0.2
    done
fi

$BIN/python manage.py migrate --noinput
$BIN/python manage.py create_demo_users

# A first sync now, so the dashboard is populated at first start; the scheduler keeps it fresh after.
if ! $BIN/python manage.py sync_peerlinks; then
    echo "The first sync failed (see above); the pages will say so, and the scheduler retries every minute."
fi

# --interval 0.5: an idle worker looks at the queue twice a second (default 1 s), so a pending link's
# re-check runs soon after the scheduler queues it.
start "Task worker" var/worker.log $BIN/python manage.py db_worker --interval 0.5
start "Scheduler" var/scheduler.log $BIN/python manage.py run_scheduler

echo
echo "dcportal: http://127.0.0.1:$WEB_PORT/"
if [[ "$DEBUG" =~ ^(1|true|True|yes|on)$ ]]; then
    echo "Log in as one of the demo users listed in README.md (e.g. engineer / dcportal-demo)."
fi
echo "Press Ctrl-C to stop."
echo
$BIN/python manage.py runserver "127.0.0.1:$WEB_PORT" &
pids+=($!)
# Run until Ctrl-C or until any child stops (then stop the others too).
wait -n "${pids[@]}" || true
