#!/usr/bin/env bash
# bench/console.sh: how fast the console draws with a big repository (figures in
# docs/BENCHMARKS.md, "Console"). Targets: first frame within 150 ms, no frame over 50 ms.
#
#   1. examples/console_frames.rs (the console's own code: runtime::load_staged, update,
#      ui::render into a TestBackend):
#      - time to first frame with 10,000 sets in a local repository: the first frame drawn
#        (still loading), the first frame with the data (the dashboard from the preview the load
#        sends first) and the frame after the full load, for a fresh host (empty journal) and
#        for the host that took the sets (a run and a verification per set in the journal);
#      - Repository::list and inventory::scan of a 100,000-object local repository (25,000 sets
#        of 4 objects), and the gaps between frames drawn while load_snapshot runs as a task;
#      - the worst frame (update + render) while paging with PageDown through that inventory
#        with every set expanded (125,000 rows).
#      The repositories are generated once from a real backup's manifest.json (set_id changed to
#      each folder's name), taken by `lifeboat demo` (a throwaway PostgreSQL cluster) on first use.
#   2. The built binary at 80x24 in a private tmux server over the 10,000-set repository and its
#      journal: time from launch to the dashboard's frame, and to its frame with the newest set.
#
# Usage (from anywhere; never run in CI; the demo needs PostgreSQL, as root it runs initdb as
# the postgres user):
#   bench/console.sh
# Environment:
#   WORK_DIR=bench/work/console   repositories, configs, the demo (git-ignored); reused
#   SETS=10000 BIG_SETS=25000     repository sizes; RUNS=5 first-frame runs each
#   TMUX_RUNS=5                   launches of the real binary
#   SKIP_BUILD=1                  do not run cargo build --release
#   QUIET_TIMEOUT=180             seconds to wait for an idle machine first (then measure anyway)
# Output: the figures on stdout, also appended to WORK_DIR/console-YYYY-MM-DD.txt. Exit 1 when a
# target was missed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh

WORK_DIR=${WORK_DIR:-bench/work/console}
SETS=${SETS:-10000}
BIG_SETS=${BIG_SETS:-25000}
RUNS=${RUNS:-5}
TMUX_RUNS=${TMUX_RUNS:-5}
mkdir -p "$WORK_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
BIN=$ROOT/target/release/lifeboat
FRAMES=$ROOT/target/release/examples/console_frames
OUT=$WORK_DIR/console-$(date -u +%F).txt

if [[ -z ${SKIP_BUILD:-} ]]; then
    lb_log "cargo build --release --bin lifeboat --example console_frames"
    cargo build --release --quiet --bin lifeboat --example console_frames
fi
lb_require tmux

TEMPLATE=$WORK_DIR/template-manifest.json
if [[ ! -s $TEMPLATE ]]; then
    lb_log "taking a real backup with lifeboat demo (once) for its manifest.json"
    rm -rf "$WORK_DIR/demo"
    "$BIN" demo --dir "$WORK_DIR/demo" --no-console >"$WORK_DIR/demo.log" 2>&1 ||
        lb_die "lifeboat demo failed: see $WORK_DIR/demo.log"
    manifest=$(find "$WORK_DIR/demo/backups/sets" -name manifest.json | sort | head -1)
    [[ -n $manifest ]] || lb_die "the demo left no manifest.json under $WORK_DIR/demo/backups"
    cp "$manifest" "$TEMPLATE"
fi

wait_quiet || true
{
    echo "## console benchmark $(date -u '+%F %T') UTC on $(hostname): $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "\$ $FRAMES --template $TEMPLATE --dir $WORK_DIR --sets $SETS --big-sets $BIG_SETS --runs $RUNS"
} | tee -a "$OUT"
status=0
"$FRAMES" --template "$TEMPLATE" --dir "$WORK_DIR" --sets "$SETS" --big-sets "$BIG_SETS" \
    --runs "$RUNS" | tee -a "$OUT" || status=1

# The real binary over the same repository and journal (console_frames wrote host.toml and
# host-local/ for them). Each launch: a fresh private tmux server, polled every few ms.
newest=$(find "$WORK_DIR/repo-$SETS/sets" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tail -1)
SOCKET=lifeboat-bench-$$
SOCKET_PATH=${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCKET
lb_on_exit "tmux -L $SOCKET kill-server 2>/dev/null; rm -f $SOCKET_PATH"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
drawn_all=() data_all=()
for ((run = 1; run <= TMUX_RUNS; run++)); do
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    t0=$(now_ms)
    tmux -L "$SOCKET" -f /dev/null new-session -d -x 80 -y 24 -s bench \
        "env LANG=C.UTF-8 NO_COLOR=1 LIFEBOAT_DATA_DIR=$WORK_DIR/host-local/data LIFEBOAT_STATE_DIR=$WORK_DIR/host-local/state $BIN --config $WORK_DIR/host.toml; sleep 60"
    drawn='' data=''
    while [[ -z $data ]] && (($(now_ms) - t0 < 30000)); do
        screen=$(tmux -L "$SOCKET" -u capture-pane -p -t bench 2>/dev/null || true)
        if [[ -z $drawn && $screen == *"Can the application be brought back?"* ]]; then
            drawn=$(($(now_ms) - t0))
        fi
        if [[ $screen == *"Newest set"*"$newest"* ]]; then
            data=$(($(now_ms) - t0))
        fi
    done
    [[ -n $data ]] || lb_die "the console never showed set $newest; last screen:"$'\n'"$screen"
    drawn_all+=("$drawn") data_all+=("$data")
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
worst() { printf '%s\n' "$@" | sort -n | tail -1; }
{
    echo "\$ tmux -L $SOCKET new-session -d -x 80 -y 24 '$BIN --config $WORK_DIR/host.toml' (x$TMUX_RUNS, capture-pane polled)"
    echo "real binary at 80x24, $SETS sets + journal: dashboard drawn median $(median "${drawn_all[@]}") ms (worst $(worst "${drawn_all[@]}") ms, includes tmux and process start); with the newest set median $(median "${data_all[@]}") ms (worst $(worst "${data_all[@]}") ms)"
    echo
} | tee -a "$OUT"
lb_log "appended to $OUT"
exit "$status"
