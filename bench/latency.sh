#!/usr/bin/env bash
# bench/latency.sh: the remote inventory at S3 latency (figures in docs/BENCHMARKS.md, "Remote
# inventory at S3 latency"). s3s-fs on loopback behind bench/latency-proxy.py (DELAY_MS per
# request), a repository of SETS sets written straight into s3s-fs's directory in the
# repository's format (a manifest per set from tests/fuzz_regressions/manifest/seed-valid.json,
# its dump object and checksums), and the release binary measured:
#   - cold: `lifeboat list --json` with no index (every manifest read, 64 in flight);
#   - console at 80x24 in a private tmux server, polled: launch to the dashboard showing the
#     newest set, and to the end of loading ("loading" gone from the status bar), cold (no
#     index) and warm (the index of the run before);
#   - `lifeboat status` warm, RUNS times, median.
# Targets: console first data frame warm <= 1 s; cold <= 15 s with the first sets on screen
# within 1 s; status warm <= 1 s.
#
# Usage: bench/latency.sh      (never in CI; needs s3s-fs, python3, tmux)
# Environment: WORK_DIR=bench/work/latency SETS=10000 DELAY_MS=50 RUNS=5 SKIP_BUILD=1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

WORK_DIR=${WORK_DIR:-bench/work/latency}
SETS=${SETS:-10000}
DELAY_MS=${DELAY_MS:-50}
RUNS=${RUNS:-5}
mkdir -p "$WORK_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
BIN=$ROOT/target/release/lifeboat
OUT=$WORK_DIR/latency-$(date -u +%F).txt
BUCKET=lifeboat-bench
PREFIX=app

if [[ -z ${SKIP_BUILD:-} ]]; then
    lb_log "cargo build --release --bin lifeboat"
    cargo build --release --quiet --locked --bin lifeboat
fi
lb_require tmux
lb_require python3
S3S=$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")
[[ -x $S3S ]] || lb_die "s3s-fs not found (scripts/install-deps --tests installs it)"

DATA=$WORK_DIR/s3/data
if [[ ! -f $WORK_DIR/s3/generated-$SETS ]]; then
    lb_log "writing $SETS sets into $DATA/$BUCKET/$PREFIX"
    rm -rf "$WORK_DIR/s3"
    mkdir -p "$DATA/$BUCKET/$PREFIX"
    python3 - "$DATA/$BUCKET/$PREFIX" "$SETS" tests/fuzz_regressions/manifest/seed-valid.json <<'PY'
import datetime, hashlib, json, os, sys
root, n, template = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
files = dict(template["components"][0], kind="files", object="files.tar.zst.gpg")
for i in range(n):
    t = now - datetime.timedelta(hours=n - i)
    set_id = t.strftime("%Y%m%dT%H%M%SZ") + "-%04x" % (i % 65536)
    folder = os.path.join(root, "sets", set_id)
    os.makedirs(folder)
    m = dict(template, set_id=set_id, components=[template["components"][0], files])
    stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    m.update(snapshot_time=stamp, started_at=stamp, finished_at=stamp)
    sums = []
    for c in m["components"]:
        body = b"x" * c["stored_bytes"]
        open(os.path.join(folder, c["object"]), "wb").write(body)
        sums.append("%s  %s\n" % (hashlib.sha256(body).hexdigest(), c["object"]))
    open(os.path.join(folder, "checksums.sha256"), "w").write("".join(sums))
    open(os.path.join(folder, "manifest.json"), "w").write(json.dumps(m, indent=2))
PY
    touch "$WORK_DIR/s3/generated-$SETS"
fi
newest=$(find "$DATA/$BUCKET/$PREFIX/sets" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tail -1)

S3_PORT=$(free_port 19100) PROXY_PORT=$(free_port 19300)
"$S3S" --host 127.0.0.1 --port "$S3_PORT" --access-key bench --secret-key bench-secret-key \
    "$DATA" >"$WORK_DIR/s3s-fs.log" 2>&1 &
S3_PID=$!
lb_on_exit "kill $S3_PID 2>/dev/null"
python3 bench/latency-proxy.py "$PROXY_PORT" "$S3_PORT" "$DELAY_MS" 2>"$WORK_DIR/proxy.log" &
PROXY_PID=$!
lb_on_exit "kill $PROXY_PID 2>/dev/null"
sleep 1

CONFIG=$WORK_DIR/config.toml
cat >"$CONFIG" <<TOML
[source]
[repository]
url = "s3://$BUCKET/$PREFIX"
endpoint = "http://127.0.0.1:$PROXY_PORT"
[encryption]
mode = "none"
TOML
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_REGION=us-east-1
export LIFEBOAT_DATA_DIR=$WORK_DIR/host/data LIFEBOAT_STATE_DIR=$WORK_DIR/host/state
export LIFEBOAT_CACHE_DIR=$WORK_DIR/host/cache
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
worst() { printf '%s\n' "$@" | sort -n | tail -1; }

SOCKET=lifeboat-latency-$$
lb_on_exit "tmux -L $SOCKET kill-server 2>/dev/null"
# One console launch: prints "first_data_ms loaded_ms".
console_run() {
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    local t0 data='' done='' screen=''
    t0=$(now_ms)
    tmux -L "$SOCKET" -f /dev/null new-session -d -x 80 -y 24 -s bench \
        "env LANG=C.UTF-8 NO_COLOR=1 $BIN --config $CONFIG; sleep 60"
    while [[ -z $done ]] && (($(now_ms) - t0 < 60000)); do
        screen=$(tmux -L "$SOCKET" -u capture-pane -p -t bench 2>/dev/null || true)
        if [[ -z $data && $screen == *"$newest"* ]]; then
            data=$(($(now_ms) - t0))
        fi
        if [[ -n $data && $screen != *loading* ]]; then
            done=$(($(now_ms) - t0))
        fi
        # A poll is a tmux client process: back to back they took most of a CPU from the
        # console, s3s-fs and the proxy being measured. 20 ms between polls bounds the error.
        [[ -n $done ]] || sleep 0.02
    done
    [[ -n $done ]] || lb_die "the console never finished loading; last screen:"$'\n'"$screen"
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    echo "$data $done"
}

{
    echo "## latency benchmark $(date -u '+%F %T') UTC on $(hostname): $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$SETS sets, s3s-fs behind bench/latency-proxy.py adding $DELAY_MS ms per request"
} | tee -a "$OUT"

cold_list=() cold_first=() cold_done=() warm_first=() warm_done=() status_ms=()
for ((run = 1; run <= RUNS; run++)); do
    rm -rf "$LIFEBOAT_CACHE_DIR"
    t0=$(now_ms)
    "$BIN" --config "$CONFIG" list --json >"$WORK_DIR/list.json"
    cold_list+=($(($(now_ms) - t0)))
    rm -rf "$LIFEBOAT_CACHE_DIR"
    read -r first done < <(console_run)
    cold_first+=("$first") cold_done+=("$done")
    read -r first done < <(console_run)
    warm_first+=("$first") warm_done+=("$done")
    t0=$(now_ms)
    "$BIN" --config "$CONFIG" status >/dev/null || true
    status_ms+=($(($(now_ms) - t0)))
done
listed=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["sets"]))' "$WORK_DIR/list.json" 2>/dev/null || echo "?")
status=0
check() { # name figure target
    local verdict=met
    (($2 <= $3)) || { verdict=MISSED; status=1; }
    echo "$1: median $2 ms (target <= $3 ms): $verdict"
}
{
    echo "\$ $BIN --config $CONFIG list --json   (no index; x$RUNS): median $(median "${cold_list[@]}") ms, worst $(worst "${cold_list[@]}") ms, $listed sets listed"
    echo "\$ tmux new-session -d -x 80 -y 24 '$BIN --config $CONFIG' (x$RUNS each, capture-pane polled; includes process start)"
    check "cold load, list --json total" "$(median "${cold_list[@]}")" 15000
    check "console cold: first sets on screen (newest set shown)" "$(median "${cold_first[@]}")" 1000
    check "console cold: loading done" "$(median "${cold_done[@]}")" 15000
    check "console warm: first data frame (newest set shown)" "$(median "${warm_first[@]}")" 1000
    echo "console warm: loading done (full pass): median $(median "${warm_done[@]}") ms"
    check "lifeboat status warm" "$(median "${status_ms[@]}")" 1000
    echo "raw: cold list ${cold_list[*]}; console cold first ${cold_first[*]} done ${cold_done[*]}; warm first ${warm_first[*]} done ${warm_done[*]}; status ${status_ms[*]}"
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
} | tee -a "$OUT"
lb_log "appended to $OUT"
exit "$status"
