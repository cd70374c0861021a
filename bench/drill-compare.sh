#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119  # single-quoted code is meant: bash -c gets it verbatim
# bench/drill-compare.sh: how long a restore takes with `lifeboat drill` against the raw manual
# path, on the same set (one lifeboat backup of the benchmark database `bench`, zstd 3,
# passphrase mode, no files), on the same machine, in the same run:
#   lifeboat-drill      lifeboat drill SET --json with [drill] server_url = the benchmark server:
#                       fetch (a local object: its size), decrypt to scratch (stored and plaintext
#                       SHA-256 on the way, zstd; CREATE DATABASE bench_drill_<time> meanwhile),
#                       pg_restore -j JOBS, checks (key-table row counts), teardown (DROP
#                       DATABASE). RTO = the record's rto_seconds (drill start to checks green);
#                       wall = the whole command.
#   raw-stream          createdb fresh; gpg --decrypt db.dump.zst.gpg | zstd -d | pg_restore -d fresh
#                       (a stream: pg_restore cannot run parallel jobs from a pipe)
#   raw-file            createdb fresh; gpg --decrypt db.dump.zst.gpg | zstd -d > db.dump;
#                       pg_restore -j JOBS -d fresh db.dump
#   lifeboat-ephemeral  lifeboat drill SET --json with no server_url: the default, an ephemeral
#                       cluster (initdb + start while decrypting; fsync=off and default
#                       shared_buffers there, so not the same server: shown for information)
# The raw paths use pg_restore --no-owner --exit-on-error, as lifeboat does (which also passes
# --clean --if-exists, a no-op on a fresh database). Every restore is checked afterwards
# (unmeasured): the key tables hold the row counts recorded in the manifest.
# Before each run: wait (up to QUIET_TIMEOUT s) for an idle machine, restart the benchmark
# cluster (cold shared_buffers) and drop the page cache (lib.sh, as in backup-compare.sh).
# Overhead = (lifeboat-drill RTO - best raw wall) / best raw wall; the target is at most 10 %.
#
# Usage (as root, from anywhere; never run in CI):
#   bench/drill-compare.sh
# Environment:
#   WORK_DIR=bench/work   data set (dataset.sh), repository, logs (git-ignored); reused between runs
#   DB_MB=550 FILES_MB=550   data set size (only the database is backed up; FILES_MB is passed to
#                         dataset.sh so that an existing data set is reused, not rebuilt)
#   TOOLS="lifeboat-drill raw-stream raw-file lifeboat-ephemeral"   which runs, in this order
#   RUNS=1                each tool is run this many times (rows tool#1, tool#2, ...)
#   JOBS=2                pg_restore parallelism for lifeboat ([restore] jobs) and raw-file
#   SKIP_BUILD=1          do not run cargo build --release; LIFEBOAT_BIN=path to use another binary
#   QUIET_TIMEOUT=180     seconds to wait for an idle machine before each run
#   BENCHMARKS_MD=docs/BENCHMARKS.md   the report is added there under "## Drill RTO"
# Output: a Markdown report on stdout, added to BENCHMARKS_MD and kept in
# WORK_DIR/drill-report-<time>.md; raw rows in WORK_DIR/drill-results-<time>.tsv; per-run logs in
# WORK_DIR/logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

COMMAND_LINE="$(for v in WORK_DIR DB_MB FILES_MB TOOLS RUNS JOBS SKIP_BUILD LIFEBOAT_BIN QUIET_TIMEOUT BENCHMARKS_MD; do
    if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/drill-compare.sh${*:+ $*}"
WORK_DIR=${WORK_DIR:-$HERE/work}
DB_MB=${DB_MB:-550}
FILES_MB=${FILES_MB:-550}
TOOLS=${TOOLS:-lifeboat-drill raw-stream raw-file lifeboat-ephemeral}
RUNS=${RUNS:-1}
JOBS=${JOBS:-2}
LIFEBOAT_BIN=${LIFEBOAT_BIN:-$REPO_ROOT/target/release/lifeboat}
BENCHMARKS_MD=${BENCHMARKS_MD:-$REPO_ROOT/docs/BENCHMARKS.md}

[[ $EUID -eq 0 ]] || lb_die "run as root (drop_caches, runuser for the clusters)"
lb_require gpg gpgconf zstd jq runuser pg_restore createdb dropdb psql "$GNU_TIME"

mkdir -p "$WORK_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export LOG_DIR=$WORK_DIR/logs RESULTS_TSV=$WORK_DIR/drill-results-$STAMP.tsv
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
echo "$RESULTS_TSV_HEADER" >"$RESULTS_TSV"

# --- data set and binary ------------------------------------------------------------------------
"$HERE/dataset.sh" "$WORK_DIR" "$DB_MB" "$FILES_MB" >/dev/null
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    lb_log "cargo build --release (log: $LOG_DIR/cargo-build.log)"
    (cd "$REPO_ROOT" && cargo build --release) >"$LOG_DIR/cargo-build.log" 2>&1 ||
        { tail -20 "$LOG_DIR/cargo-build.log" >&2; lb_die "cargo build --release failed"; }
fi
[[ -x $LIFEBOAT_BIN ]] || lb_die "no lifeboat binary at $LIFEBOAT_BIN"

# --- secrets, server, configuration -------------------------------------------------------------
bench_setup   # passphrase, a private GNUPGHOME, the benchmark cluster (lib.sh)

OUT=$WORK_DIR/out-drill
rm -rf "$OUT"
mkdir -p "$OUT/data" "$OUT/state" "$OUT/scratch"
write_config() {   # write_config FILE [SERVER_URL]
    cat >"$1" <<EOF
[source]
database_url = "postgresql://postgres@127.0.0.1:$PGPORT/bench"
key_tables = ['"User"', "public.documents", "public.audit_log", "billing.payments"]

[repository]
url = "file://$OUT/repo"

[encryption]
mode = "passphrase"
passphrase_file = "$PASSPHRASE_FILE"

[backup]
compression = "zstd"
level = 3

[restore]
jobs = $JOBS
scratch_dir = "$OUT/scratch"

[drill]
rto_target = "2h"
rpo_target = "24h"
EOF
    if [[ -n ${2:-} ]]; then
        sed -i "s|^\[drill\]\$|[drill]\nserver_url = \"$2\"|" "$1"
    fi
}
write_config "$OUT/server.toml" "postgresql://postgres@127.0.0.1:$PGPORT/postgres"
write_config "$OUT/ephemeral.toml"
lifeboat() { LIFEBOAT_DATA_DIR=$OUT/data LIFEBOAT_STATE_DIR=$OUT/state "$LIFEBOAT_BIN" "$@"; }

# --- the set (not measured) ---------------------------------------------------------------------
lb_log "lifeboat backup of 'bench' (not measured)"
SET=$(lifeboat --config "$OUT/server.toml" backup --json | jq -r .set_id)
[[ $SET != null && -n $SET ]] || lb_die "the backup failed"
SET_DIR=$OUT/repo/sets/$SET
OBJECT=$SET_DIR/db.dump.zst.gpg
[[ -f $OBJECT ]] || lb_die "no $OBJECT"
STORED_BYTES=$(stat -c %s "$OBJECT")
DUMP_BYTES=$(jq '.components[] | select(.kind == "db") | .source_bytes' "$SET_DIR/manifest.json")
lb_log "set $SET: db.dump.zst.gpg $STORED_BYTES bytes, dump $DUMP_BYTES bytes"

# Every restore must be complete: the key tables hold the manifest's row counts.
check_restored() {   # check_restored DATABASE
    local table rows actual bad=0
    while IFS=$'\t' read -r table rows; do
        actual=$(psql -X -Atq -d "$1" -c "SELECT count(*) FROM $table" 2>/dev/null || echo "?")
        if [[ $actual != "$rows" ]]; then
            lb_log "  $1: $table has $actual rows, the manifest says $rows"
            bad=1
        fi
    done < <(jq -r '.source.key_tables[] | [.table, .rows] | @tsv' "$SET_DIR/manifest.json")
    return "$bad"
}

COLD_NOTE="yes: before every run the cluster was restarted and the page cache dropped"
BUSY_NOTE=""
cold_start() {
    if ! wait_quiet; then
        BUSY_NOTE="the machine was busy with other work before at least one run (no 2 s idle window within ${QUIET_TIMEOUT:-180} s); see the other CPU column"
    fi
    pg_cluster_restart
    if ! drop_caches; then
        COLD_NOTE="NO: /proc/sys/vm/drop_caches not writable; runs after the first read a warm page cache (the cluster was still restarted)"
    fi
}

# --- the runs ---------------------------------------------------------------------------------
declare -A RTO PHASES VERIFIED
run_drill() {   # run_drill NAME CONFIG
    local name=$1 config=$2 record
    cold_start
    rm -f "$OUT/repo/drills/"*.json
    MEASURE_SAMPLE_HWM=1 measure "$name" env LIFEBOAT_DATA_DIR="$OUT/data" LIFEBOAT_STATE_DIR="$OUT/state" \
        "$LIFEBOAT_BIN" --config "$config" drill "$SET" --json || true
    record=$(find "$OUT/repo/drills" -name '*.json' 2>/dev/null | sort | tail -1)
    if [[ -z $record ]]; then
        RTO[$name]=-
        PHASES[$name]="no drill record"
        VERIFIED[$name]="no"
        return 0
    fi
    cp "$record" "$LOG_DIR/$name.record.json"
    RTO[$name]=$(jq -r '.rto_seconds // "-"' "$record")
    PHASES[$name]=$(jq -r '[.phases[] | "\(.name) \(.seconds) s"] | join(", ")' "$record")
    VERIFIED[$name]=$(jq -r 'if .passed then "yes: drill passed, \([.checks[] | select(.kind == "row count")] | length) row counts match" else "NO: \(.reasons | join("; "))" end' "$record")
}

run_raw() {   # run_raw NAME stream|file
    local name=$1 how=$2 db=bench_raw
    dropdb --if-exists "$db"
    rm -f "$OUT/scratch/db.dump"
    cold_start
    if [[ $how == stream ]]; then
        measure "$name" bash -c '
            set -euo pipefail
            createdb "$1"
            gpg --batch --pinentry-mode loopback --passphrase-file "$2" --decrypt "$3" |
                zstd -d | pg_restore --no-owner --exit-on-error -d "$1"
        ' raw-stream "$db" "$PASSPHRASE_FILE" "$OBJECT" || true
    else
        measure "$name" bash -c '
            set -euo pipefail
            createdb "$1"
            gpg --batch --pinentry-mode loopback --passphrase-file "$2" --decrypt "$3" |
                zstd -d >"$4"
            pg_restore --no-owner --exit-on-error -j "$5" -d "$1" "$4"
        ' raw-file "$db" "$PASSPHRASE_FILE" "$OBJECT" "$OUT/scratch/db.dump" "$JOBS" || true
    fi
    RTO[$name]=-
    PHASES[$name]=""
    if ((M_STATUS == 0)) && check_restored "$db"; then
        VERIFIED[$name]="yes: $(jq '.source.key_tables | length' "$SET_DIR/manifest.json") row counts match"
    else
        VERIFIED[$name]="NO"
    fi
    dropdb --if-exists "$db"
    rm -f "$OUT/scratch/db.dump"
}

for run in $(seq 1 "$RUNS"); do
    for tool in $TOOLS; do
        name=$tool
        ((RUNS > 1)) && name="$tool#$run"
        case $tool in
            lifeboat-drill) run_drill "$name" "$OUT/server.toml" ;;
            lifeboat-ephemeral) run_drill "$name" "$OUT/ephemeral.toml" ;;
            raw-stream) run_raw "$name" stream ;;
            raw-file) run_raw "$name" file ;;
            *) lb_die "unknown tool '$tool' in TOOLS" ;;
        esac
    done
done
DB_SIZE=$(psql -X -Atc "SELECT pg_database_size('bench')")
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
pg_cluster_stop

# --- report -----------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# The best raw path: the smallest wall time of a successful raw run.
BEST_RAW=$(awk -F'\t' 'NR > 1 && $1 ~ /^raw-/ && $2 == 0 { if (best == "" || $3 < best) { best = $3; name = $1 } }
    END { if (best != "") print best "\t" name }' "$RESULTS_TSV")
BEST_RAW_S=${BEST_RAW%%$'\t'*}
BEST_RAW_NAME=${BEST_RAW#*$'\t'}
overhead() {   # overhead SECONDS: percent over the best raw path
    if [[ -z $BEST_RAW_S || $1 == - || -z $1 ]]; then echo -; return; fi
    awk -v s="$1" -v b="$BEST_RAW_S" 'BEGIN { printf "%+.1f %%", 100 * (s - b) / b }'
}

table() {
    echo "| run | status | wall s | RTO s (record) | RTO over best raw | wall over best raw | CPU s | server CPU s | other CPU s | restore verified |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
    tail -n +2 "$RESULTS_TSV" | while IFS=$'\t' read -r name status wall cpu _ _ _ _ srv _ mach daemon; do
        local st other
        if [[ $daemon != - && $daemon != 0.00 ]]; then
            cpu=$(awk -v c="$cpu" -v d="$daemon" 'BEGIN { printf "%.2f", c + d }')
        fi
        other=$(awk -v m="$mach" -v c="$cpu" -v s="$srv" 'BEGIN { printf "%.1f", m - c - s }')
        case $status in 0) st=ok ;; *) st="failed ($status)" ;; esac
        if awk -v m="$mach" -v c="$cpu" -v s="$srv" 'BEGIN { o = m - c - s; exit !(o > 1.0 && o > 0.2 * (c + s)) }'; then
            st="$st, machine busy"
        fi
        echo "| $name | $st | $wall | ${RTO[$name]:--} | $(overhead "${RTO[$name]:--}") | $(overhead "$wall") | $cpu | $srv | $other | ${VERIFIED[$name]:-} |"
    done
}

commands() {
    local v=/path/to
    echo '```sh'
    echo "# lifeboat-drill ([restore] jobs = $JOBS, [drill] server_url = the benchmark server's postgres database)"
    echo "lifeboat --config server.toml drill $SET --json"
    echo "# lifeboat-ephemeral (no server_url: an ephemeral cluster)"
    echo "lifeboat --config ephemeral.toml drill $SET --json"
    echo "# raw-stream"
    echo "createdb bench_raw"
    echo "gpg --batch --pinentry-mode loopback --passphrase-file $v/passphrase --decrypt sets/$SET/db.dump.zst.gpg \\"
    echo "    | zstd -d | pg_restore --no-owner --exit-on-error -d bench_raw"
    echo "# raw-file"
    echo "createdb bench_raw"
    echo "gpg --batch --pinentry-mode loopback --passphrase-file $v/passphrase --decrypt sets/$SET/db.dump.zst.gpg \\"
    echo "    | zstd -d > db.dump"
    echo "pg_restore --no-owner --exit-on-error -j $JOBS -d bench_raw db.dump"
    echo '```'
}

machine() {
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- load average (1/5/15 min) before the runs: $LOADAVG_START; after: $LOADAVG_END (anything else busy on the machine skews the figures)"
    echo "- kernel: $(uname -sr); $(. /etc/os-release && echo "$PRETTY_NAME"); filesystem of WORK_DIR: $(df -T "$WORK_DIR" | awk 'NR == 2 { print $2 }')"
    echo "- $(pg_restore --version); benchmark server $(postgres --version | awk '{ print $3 }') with shared_buffers=256MB, other settings default (fsync on)"
    echo "- $(gpg --version | head -1); $(zstd --version 2>/dev/null | sed 's/^\*\*\* //; s/, by.*//')"
    echo "- lifeboat: $("$LIFEBOAT_BIN" --version 2>&1 | head -1 || true) (binary $(date -u -r "$LIFEBOAT_BIN" +%FT%TZ)); source $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "without a commit")$(cd "$REPO_ROOT" && [[ -n $(git status --porcelain -- src Cargo.toml 2>/dev/null) ]] && echo " + uncommitted changes")"
}

REPORT=$WORK_DIR/drill-report-$STAMP.md
{
    echo "### Drill RTO, $(date -u '+%F %H:%M') UTC"
    echo
    echo "Command: \`$COMMAND_LINE\` (as root; WORK_DIR=$WORK_DIR)"
    echo
    echo "Set \`$SET\`: one \`lifeboat backup\` of the benchmark database \`bench\` (bench/dataset.sh DB_MB=$DB_MB: $(mib "$DB_SIZE") MiB on disk) without files; dump $(mib "$DUMP_BYTES") MiB (\`pg_dump -Fc -Z0\`), stored as db.dump.zst.gpg $(mib "$STORED_BYTES") MiB (zstd 3, gpg AES256, passphrase mode). Every run restores it into a fresh database on the benchmark server (lifeboat-ephemeral: into its own throwaway cluster)."
    echo
    echo "Cold runs: $COLD_NOTE. Each run waited for a quiet machine first (2 s under 15 % of one CPU)${BUSY_NOTE:+; but $BUSY_NOTE}."
    echo
    table
    echo
    echo "- Best raw path: ${BEST_RAW_NAME:-none} (${BEST_RAW_S:--} s). Target: lifeboat-drill's RTO at most 10 % over it."
    echo "- RTO s: the drill record's \`rto_seconds\`, drill start to every check green (row counts of the key tables): fetch and verify (a local object: its size against the manifest), decrypt to scratch (stored and plaintext SHA-256 checked on the way, zstd; the target is created meanwhile), pg_restore -j $JOBS, checks. Wall s adds teardown (DROP DATABASE), storing the record and process start/exit. The raw paths' wall includes createdb; their restores are verified afterwards, unmeasured."
    echo "- CPU s: user+sys of the command and every child it waited for (pg_restore, gpg, zstd), plus the gpg-agent the raw paths start; server CPU s: the PostgreSQL server (postmaster and its reaped backends) meanwhile; other CPU s: the rest of the machine. lifeboat-ephemeral's server is its own cluster, whose CPU is in no column."
    for tool in $TOOLS; do
        for key in "${!PHASES[@]}"; do
            if [[ ${key%%#*} == "$tool" && -n ${PHASES[$key]} ]]; then
                echo "- $key phases: ${PHASES[$key]}."
            fi
        done
    done
    echo
    echo "Exact commands (paths shortened; the scripts run them under GNU time):"
    echo
    commands
    echo
    echo "Machine:"
    echo
    machine
    echo
    echo "<details><summary>raw rows ($(basename "$RESULTS_TSV"))</summary>"
    echo
    echo '```'
    cat "$RESULTS_TSV"
    echo '```'
    echo
    echo "</details>"
    echo
} >"$REPORT"
cat "$REPORT"

# Into BENCHMARKS_MD, under "## Drill RTO" (created at the end when missing; other sections kept).
mkdir -p "$(dirname "$BENCHMARKS_MD")"
[[ -f $BENCHMARKS_MD ]] || printf '# Benchmarks\n\nOn-demand figures (never in CI); the scripts are in bench/ (see bench/README.md).\n' >"$BENCHMARKS_MD"
if ! grep -qx '## Drill RTO' "$BENCHMARKS_MD"; then
    {
        echo
        echo "## Drill RTO"
        echo
        echo "\`bench/drill-compare.sh\`: the time \`lifeboat drill\` takes to bring a set back (RTO), against restoring the same stored object by hand with gpg, zstd and pg_restore. Newest run last."
        echo
    } >>"$BENCHMARKS_MD"
fi
# Insert the report at the end of the "## Drill RTO" section (before the next "## " heading).
awk -v report="$REPORT" '
    function emit() { while ((getline line < report) > 0) print line; close(report); done = 1 }
    /^## / && in_section && !done { emit() }
    { print; last = $0 }
    $0 == "## Drill RTO" { in_section = 1 }
    END { if (!done) { if (last != "") print ""; emit() } }
' "$BENCHMARKS_MD" >"$BENCHMARKS_MD.tmp"
mv "$BENCHMARKS_MD.tmp" "$BENCHMARKS_MD"
lb_log "added to $BENCHMARKS_MD (and $REPORT)"
