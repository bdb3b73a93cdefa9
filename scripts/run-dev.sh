#!/usr/bin/env bash
# `make run`: migrate, create the demo logins (and, with the simulator, its second account), start the cloud
# simulator with demo data, sync once, then run the task worker, the scheduler and the web server until
# Ctrl-C (which stops all of them).
# A child that exits is started again after a short pause (1 s, doubling up to 10 s while it keeps
# exiting soon after starting); the others keep running.
# With CLOUD_ENDPOINT pointing elsewhere (the real cloud), the simulator is not started.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export DEBUG=${DEBUG:-1}
WEB_PORT=${PORT:-8000}
SIM_PORT=${DCSIM_PORT:-8790}
export CLOUD_ENDPOINT=${CLOUD_ENDPOINT:-http://127.0.0.1:$SIM_PORT}
# Links in mail point at this site as it is served here (PORT), unless SITE_URL says otherwise.
export SITE_URL=${SITE_URL:-http://127.0.0.1:$WEB_PORT}
# Logs go where the settings keep local state (and the SQLite database unless DATABASE_URL says otherwise).
export VAR_DIR=${VAR_DIR:-var}
mkdir -p "$VAR_DIR"

BACKOFF_START=1
BACKOFF_MAX=10
STEADY_AFTER=30  # seconds of running after which a child's next exit starts the backoff afresh

# Per child, by key: what it is called, its log (empty: the terminal), its process group and start time.
declare -A label=() logfile=() pid=() started_at=() backoff=()
declare -A pause_for=()  # a pause before a restart: the sleep's pid -> the child it delays
stopping=0

cleanup() {
    [[ $stopping == 1 ]] && return
    stopping=1
    trap - INT TERM
    echo
    echo "Stopping dcportal..."
    for p in "${!pause_for[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n ${tick:-} ]] && kill "$tick" 2>/dev/null || true
    for p in "${pid[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    # Give each a few seconds to finish (the worker completes its current task), then insist.
    for _ in $(seq 50); do
        alive=0
        for p in "${pid[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for p in "${pid[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What each child runs. `exec setsid`: the background job's process becomes the command itself, leading a
# process group of its own, so stopping the group also stops what it spawned (runserver's and db_worker's
# autoreloaders run the real server in a child process), and Ctrl-C reaches only this script.
run_simulator() { exec setsid $BIN/python -m dcsim --host 127.0.0.1 --port "$SIM_PORT" --seed demo; }
# --interval 0.5: an idle worker looks at the queue twice a second (default 1 s), so a pending link's
# re-check runs soon after the scheduler queues it.
run_worker() { exec setsid $BIN/python manage.py db_worker --interval 0.5; }
run_scheduler() { exec setsid $BIN/python manage.py run_scheduler; }
run_web() { exec setsid $BIN/python manage.py runserver "127.0.0.1:$WEB_PORT"; }

start() {  # start KEY: run run_KEY in the background, in its own process group
    local key=$1
    if [[ -n ${logfile[$key]} ]]; then
        "run_$key" >>"${logfile[$key]}" 2>&1 &
    else
        "run_$key" &
    fi
    pid[$key]=$!
    started_at[$key]=$SECONDS
}

supervise() {  # supervise KEY LABEL LOGFILE: start a child that is started again whenever it exits
    local key=$1
    label[$key]=$2
    logfile[$key]=$3
    backoff[$key]=$BACKOFF_START
    start "$key"
    [[ -n $3 ]] && echo "$2 started (log in $3)"
    return 0
}

# With the simulator, the demo has its second account too (team-b, with the keys the simulator publishes).
demo_options=()
if [[ "$CLOUD_ENDPOINT" == "http://127.0.0.1:$SIM_PORT" ]]; then
    demo_options+=(--simulator-account)
    supervise simulator "Cloud simulator on http://127.0.0.1:$SIM_PORT (demo data)" "$VAR_DIR/dcsim.log"
    for _ in $(seq 50); do
        curl -fsS "http://127.0.0.1:$SIM_PORT/_dcsim/state" >/dev/null 2>&1 && break
        sleep 0.2
    done
fi

$BIN/python manage.py migrate --noinput
$BIN/python manage.py create_demo_users ${demo_options[@]+"${demo_options[@]}"}

# A first sync now, so the dashboard is populated at first start; the scheduler keeps it fresh after.
if ! $BIN/python manage.py sync_peerlinks; then
    echo "The first sync failed (see above); the pages will say so, and the scheduler retries every minute."
fi

supervise worker "Task worker" "$VAR_DIR/worker.log"
supervise scheduler "Scheduler" "$VAR_DIR/scheduler.log"

echo
echo "dcportal: http://127.0.0.1:$WEB_PORT/"
if [[ "$DEBUG" =~ ^(1|true|True|yes|on)$ ]]; then
    echo "Log in as one of the demo users listed in README.md (e.g. engineer / dcportal-demo)."
fi
echo "Press Ctrl-C to stop."
echo
supervise web "Web server" ""

# Run until Ctrl-C or TERM. A child that exits is started again when its pause is over (a background sleep,
# waited for like the children, so Ctrl-C and TERM are handled at once); the others keep running.
# `wait -n` wakes for one child at a time, and bash may reap a second one that exits at the same moment
# without ever reporting it: so every wake-up (and a 1 s tick) looks at every child and pause by itself.
tick=
while true; do
    [[ -n $tick ]] || { sleep 1 & tick=$!; }
    # (2>/dev/null: bash's own "Killed" line for a child killed by a signal; the lines below say it.)
    wait -n "${pid[@]}" "${!pause_for[@]}" "$tick" 2>/dev/null || true
    if ! kill -0 "$tick" 2>/dev/null; then
        wait "$tick" 2>/dev/null || true
        tick=
    fi
    for p in "${!pause_for[@]}"; do
        kill -0 "$p" 2>/dev/null && continue
        wait "$p" 2>/dev/null || true
        start "${pause_for[$p]}"
        unset "pause_for[$p]"
    done
    for key in "${!pid[@]}"; do
        exited=${pid[$key]}
        kill -0 "$exited" 2>/dev/null && [[ $(ps -o stat= -p "$exited" 2>/dev/null) != Z* ]] && continue
        code=0
        wait "$exited" 2>/dev/null || code=$?
        unset "pid[$key]"
        # Whatever it spawned goes too (an autoreloader's server), so the new one finds its port free.
        kill -KILL -- "-$exited" 2>/dev/null || true
        if ((SECONDS - started_at[$key] >= STEADY_AFTER)); then
            backoff[$key]=$BACKOFF_START
        fi
        delay=${backoff[$key]}
        echo "${label[$key]} exited (code $code); restarting in $delay s"
        backoff[$key]=$((delay * 2 > BACKOFF_MAX ? BACKOFF_MAX : delay * 2))
        sleep "$delay" &
        pause_for[$!]=$key
    done
done
