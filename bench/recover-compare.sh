#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119  # single-quoted code is meant: bash -c gets it verbatim
# bench/recover-compare.sh: disaster recovery's RTO with `lifeboat recover` against the README's
# "Restoring a set by hand", on the same set (one lifeboat backup of the benchmark database
# `bench` and its files, zstd 3, passphrase mode, into a local repository), on the same
# machine, in one run, alternating:
#   by-hand           exactly the README's commands, from the set folder: sha256sum -c
#                     checksums.sha256; gpg --decrypt db.dump.zst.gpg | zstd -d > db.dump;
#                     createdb; pg_restore -j JOBS --no-owner --exit-on-error -d; gpg --decrypt
#                     files.tar.zst.gpg | zstd -d | tar -xpf - -C a fresh directory. Wall time of
#                     the whole sequence. (db.dump goes to a scratch directory beside the
#                     repository, not into the set folder, so the repository stays as stored.)
#   lifeboat-recover  lifeboat recover --repository file://... --passphrase-file ... --target URL
#                     (a fresh database on the benchmark server) --files-prefix (a fresh
#                     directory) --config-out (a fresh path) --jobs JOBS --yes --json, with empty
#                     data and state directories (a bare host). RTO = the record's rto_seconds
#                     (runbook start to the health check green: fetch and re-hash, decrypt,
#                     create target, pg_restore, files, hooks, key-table row counts); wall = the
#                     whole command (adds choosing the set, which re-hashes its objects, the plan,
#                     writing the config and the record).
# Every run's end state is checked afterwards, unmeasured: the key tables hold the manifest's row
# counts, and the restored tree holds as many files as the source tree.
# Before each run: wait (up to QUIET_TIMEOUT s) for an idle machine, restart the benchmark
# cluster (cold shared_buffers) and drop the page cache (lib.sh, as in drill-compare.sh).
# Overhead = (lifeboat-recover RTO - best by-hand wall) / best by-hand wall; the target is at
# most +10 %.
#
# Usage (as root, from anywhere; never run in CI):
#   bench/recover-compare.sh
#   DB_MB=40 FILES_MB=40 WORK_DIR=bench/work-quick SKIP_BUILD=1 bench/recover-compare.sh   # quick check
# Environment:
#   WORK_DIR=bench/work/recover   data set (dataset.sh), repository, logs (git-ignored); reused
#   DB_MB=200 FILES_MB=200   data set size: smaller than the other comparisons' default so that a
#                         lone run takes minutes (bench/run passes its own main data set's sizes)
#   TOOLS="by-hand lifeboat-recover"   which runs, in this order within a round
#   RUNS=1                rounds: each tool is run this many times, alternating (tool#1, ...)
#   JOBS=2                pg_restore parallelism, for both
#   SKIP_BUILD=1          do not run cargo build --release; LIFEBOAT_BIN=path to use another binary
#   QUIET_TIMEOUT=180     seconds to wait for an idle machine before each run
#   BENCHMARKS_MD=docs/BENCHMARKS.md   the report is added there under "## Recovery RTO"
# Output: a Markdown report on stdout, added to BENCHMARKS_MD and kept in
# WORK_DIR/recover-report-<time>.md; raw rows in WORK_DIR/recover-results-<time>.tsv; per-run
# logs (and each recovery's JSON) in WORK_DIR/logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

COMMAND_LINE="$(for v in WORK_DIR DB_MB FILES_MB TOOLS RUNS JOBS SKIP_BUILD LIFEBOAT_BIN QUIET_TIMEOUT BENCHMARKS_MD; do
    if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/recover-compare.sh${*:+ $*}"
WORK_DIR=${WORK_DIR:-$HERE/work/recover}
DB_MB=${DB_MB:-200}
FILES_MB=${FILES_MB:-200}
TOOLS=${TOOLS:-by-hand lifeboat-recover}
RUNS=${RUNS:-1}
JOBS=${JOBS:-2}
LIFEBOAT_BIN=${LIFEBOAT_BIN:-$REPO_ROOT/target/release/lifeboat}
BENCHMARKS_MD=${BENCHMARKS_MD:-$REPO_ROOT/docs/BENCHMARKS.md}

[[ $EUID -eq 0 ]] || lb_die "run as root (drop_caches, runuser for the clusters)"
lb_require gpg gpgconf zstd jq tar sha256sum runuser pg_restore createdb dropdb psql "$GNU_TIME"

mkdir -p "$WORK_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export LOG_DIR=$WORK_DIR/logs RESULTS_TSV=$WORK_DIR/recover-results-$STAMP.tsv
mkdir -p "$LOG_DIR"
# Only this script's own logs: WORK_DIR/logs may hold the other comparisons' (bench/run reads them).
rm -f "$LOG_DIR"/by-hand*.log "$LOG_DIR"/lifeboat-recover*.log "$LOG_DIR"/lifeboat-recover*.json
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

OUT=$WORK_DIR/out-recover
rm -rf "$OUT"
# The restored trees and the bare hosts' directories: beside the repository, on its filesystem.
mkdir -p "$OUT/data" "$OUT/state" "$OUT/scratch" "$OUT/runs"
cat >"$OUT/config.toml" <<EOF
[source]
database_url = "postgresql://postgres@127.0.0.1:$PGPORT/bench"
files = ["$WORK_DIR/files"]
key_tables = ['"User"', "public.documents", "public.audit_log", "billing.payments"]

[repository]
url = "file://$OUT/repo"

[encryption]
mode = "passphrase"
passphrase_file = "$PASSPHRASE_FILE"

[backup]
compression = "zstd"
level = 3
EOF

# --- the set (not measured) ---------------------------------------------------------------------
lb_log "lifeboat backup of 'bench' and its files (not measured)"
SET=$(LIFEBOAT_DATA_DIR=$OUT/data LIFEBOAT_STATE_DIR=$OUT/state \
    "$LIFEBOAT_BIN" --config "$OUT/config.toml" backup --json | jq -r .set_id)
[[ $SET != null && -n $SET ]] || lb_die "the backup failed"
SET_DIR=$OUT/repo/sets/$SET
for o in db.dump.zst.gpg files.tar.zst.gpg checksums.sha256; do
    [[ -f $SET_DIR/$o ]] || lb_die "no $SET_DIR/$o"
done
DB_STORED=$(stat -c %s "$SET_DIR/db.dump.zst.gpg")
FILES_STORED=$(stat -c %s "$SET_DIR/files.tar.zst.gpg")
DUMP_BYTES=$(jq '.components[] | select(.kind == "db") | .source_bytes' "$SET_DIR/manifest.json")
TAR_BYTES=$(jq '.components[] | select(.kind == "files") | .source_bytes' "$SET_DIR/manifest.json")
SOURCE_FILES=$(find "$WORK_DIR/files" -type f | wc -l)
lb_log "set $SET: db.dump.zst.gpg $DB_STORED bytes (dump $DUMP_BYTES), files.tar.zst.gpg $FILES_STORED bytes (tar $TAR_BYTES), $SOURCE_FILES files"

# check_restored DATABASE DIR: the key tables hold the manifest's row counts, and DIR holds as
# many files as the source tree.
check_restored() {
    local table rows actual bad=0 files
    while IFS=$'\t' read -r table rows; do
        actual=$(psql -X -Atq -d "$1" -c "SELECT count(*) FROM $table" 2>/dev/null || echo "?")
        if [[ $actual != "$rows" ]]; then
            lb_log "  $1: $table has $actual rows, the manifest says $rows"
            bad=1
        fi
    done < <(jq -r '.source.key_tables[] | [.table, .rows] | @tsv' "$SET_DIR/manifest.json")
    files=$(find "$2" -type f 2>/dev/null | wc -l)
    if [[ $files != "$SOURCE_FILES" ]]; then
        lb_log "  $2: $files files, the source tree has $SOURCE_FILES"
        bad=1
    fi
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

# A run's own database and directory, gone before and after it.
fresh() {   # fresh DB DIR
    dropdb --if-exists "$1"
    rm -rf "$2" "$OUT/scratch/db.dump"
}
verified_note() {   # verified_note STATUS DB DIR
    local keys
    keys=$(jq '.source.key_tables | length' "$SET_DIR/manifest.json")
    if (($1 == 0)) && check_restored "$2" "$3"; then
        echo "yes: $keys row counts match, $SOURCE_FILES files"
    else
        echo "NO"
    fi
}

# --- the runs ---------------------------------------------------------------------------------
declare -A RTO STEPS VERIFIED
run_by_hand() {   # run_by_hand NAME
    local name=$1 db=bench_byhand dir=$OUT/runs/by-hand
    fresh "$db" "$dir"
    cold_start
    measure "$name" bash -c '
        set -euo pipefail
        cd "$1"
        sha256sum -c checksums.sha256
        gpg --batch --pinentry-mode loopback --passphrase-file "$2" \
            --decrypt db.dump.zst.gpg | zstd -d > "$3"
        createdb "$4"
        pg_restore -j "$5" --no-owner --exit-on-error -d "$4" "$3"
        mkdir -p "$6"
        gpg --batch --pinentry-mode loopback --passphrase-file "$2" \
            --decrypt files.tar.zst.gpg | zstd -d | tar -xpf - -C "$6"
    ' by-hand "$SET_DIR" "$PASSPHRASE_FILE" "$OUT/scratch/db.dump" "$db" "$JOBS" "$dir" || true
    RTO[$name]=-
    STEPS[$name]=""
    VERIFIED[$name]=$(verified_note "$M_STATUS" "$db" "$dir")
    fresh "$db" "$dir"
}

run_lifeboat() {   # run_lifeboat NAME
    local name=$1 db=bench_recovered dir=$OUT/runs/lifeboat host=$OUT/runs/host json
    fresh "$db" "$dir"
    rm -rf "$host"
    mkdir -p "$host/data" "$host/state"
    json=$LOG_DIR/$name.json
    cold_start
    # stdout (the one JSON document) into its own file; `exec`, so that lifeboat itself is what
    # GNU time runs.
    measure "$name" bash -c 'json=$1; shift; exec "$@" >"$json"' recover "$json" \
        env LIFEBOAT_DATA_DIR="$host/data" LIFEBOAT_STATE_DIR="$host/state" \
        "$LIFEBOAT_BIN" recover --repository "file://$OUT/repo" --passphrase-file "$PASSPHRASE_FILE" \
        --target "postgresql://postgres@127.0.0.1:$PGPORT/$db" --files-prefix "$dir" \
        --config-out "$host/config.toml" --jobs "$JOBS" --yes --json || true
    RTO[$name]=$(jq -r '.runbook.record.rto_seconds // "-"' "$json" 2>/dev/null || echo -)
    STEPS[$name]=$(jq -r '[.runbook.steps[] | "\(.name) \(.seconds // "-") s"] | join(", ")' "$json" 2>/dev/null || echo "no runbook")
    VERIFIED[$name]=$(verified_note "$M_STATUS" "$db" "$dir/${WORK_DIR#/}/files")
    fresh "$db" "$dir"
    rm -rf "$host"
}

for run in $(seq 1 "$RUNS"); do
    for tool in $TOOLS; do
        name=$tool
        ((RUNS > 1)) && name="$tool#$run"
        case $tool in
            by-hand) run_by_hand "$name" ;;
            lifeboat-recover) run_lifeboat "$name" ;;
            *) lb_die "unknown tool '$tool' in TOOLS" ;;
        esac
    done
done
DB_SIZE=$(psql -X -Atc "SELECT pg_database_size('bench')")
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
pg_cluster_stop

# --- report -----------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
# The best by-hand run: the smallest wall time of a successful one.
BEST_HAND_S=$(awk -F'\t' 'NR > 1 && $1 ~ /^by-hand/ && $2 == 0 { if (best == "" || $3 < best) best = $3 }
    END { print best }' "$RESULTS_TSV")
overhead() {   # overhead SECONDS: percent over the best by-hand wall
    if [[ -z $BEST_HAND_S || $1 == - || -z $1 ]]; then echo -; return; fi
    awk -v s="$1" -v b="$BEST_HAND_S" 'BEGIN { printf "%+.1f %%", 100 * (s - b) / b }'
}

table() {
    echo "| run | status | wall s | RTO s (record) | RTO over best by-hand | wall over best by-hand | CPU s | server CPU s | other CPU s | end state verified |"
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
    echo '```sh'
    echo "# by-hand (README \"Restoring a set by hand\"), from the set folder sets/$SET"
    echo "sha256sum -c checksums.sha256"
    echo "gpg --batch --pinentry-mode loopback --passphrase-file passphrase --decrypt db.dump.zst.gpg | zstd -d > scratch/db.dump"
    echo "createdb bench_byhand"
    echo "pg_restore -j $JOBS --no-owner --exit-on-error -d bench_byhand scratch/db.dump"
    echo "mkdir -p runs/by-hand"
    echo "gpg --batch --pinentry-mode loopback --passphrase-file passphrase --decrypt files.tar.zst.gpg | zstd -d | tar -xpf - -C runs/by-hand"
    echo "# lifeboat-recover (empty LIFEBOAT_DATA_DIR and LIFEBOAT_STATE_DIR: a bare host)"
    echo "lifeboat recover --repository file://repo --passphrase-file passphrase \\"
    echo "    --target postgresql://postgres@127.0.0.1:PORT/bench_recovered --files-prefix runs/lifeboat \\"
    echo "    --config-out runs/host/config.toml --jobs $JOBS --yes --json"
    echo '```'
}

machine() {
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- load average (1/5/15 min) before the runs: $LOADAVG_START; after: $LOADAVG_END (anything else busy on the machine skews the figures)"
    echo "- kernel: $(uname -sr); $(. /etc/os-release && echo "$PRETTY_NAME"); filesystem of WORK_DIR: $(df -T "$WORK_DIR" | awk 'NR == 2 { print $2 }')"
    echo "- $(pg_restore --version); benchmark server $(postgres --version | awk '{ print $3 }') with shared_buffers=256MB, other settings default (fsync on)"
    echo "- $(gpg --version | head -1); $(zstd --version 2>/dev/null | sed 's/^\*\*\* //; s/, by.*//'); $(tar --version | head -1)"
    echo "- lifeboat: $("$LIFEBOAT_BIN" --version 2>&1 | head -1 || true) (binary $(date -u -r "$LIFEBOAT_BIN" +%FT%TZ)); source $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "without a commit")$(cd "$REPO_ROOT" && [[ -n $(git status --porcelain -- src Cargo.toml 2>/dev/null) ]] && echo " + uncommitted changes")"
}

REPORT=$WORK_DIR/recover-report-$STAMP.md
{
    echo "### Recovery RTO, $(date -u '+%F %H:%M') UTC"
    echo
    echo "Command: \`$COMMAND_LINE\` (as root; WORK_DIR=$WORK_DIR)"
    echo
    echo "Set \`$SET\`: one \`lifeboat backup\` of the benchmark database \`bench\` (bench/dataset.sh DB_MB=$DB_MB: $(mib "$DB_SIZE") MiB on disk) and its files (FILES_MB=$FILES_MB: $SOURCE_FILES files); dump $(mib "$DUMP_BYTES") MiB stored as db.dump.zst.gpg $(mib "$DB_STORED") MiB, tar $(mib "$TAR_BYTES") MiB stored as files.tar.zst.gpg $(mib "$FILES_STORED") MiB (zstd 3, gpg AES256, passphrase mode), in a local repository. Every run restores it into a fresh database on the benchmark server and a fresh directory."
    echo
    echo "Cold runs: $COLD_NOTE. Each run waited for a quiet machine first (2 s under 15 % of one CPU)${BUSY_NOTE:+; but $BUSY_NOTE}."
    echo
    table
    echo
    echo "- Best by-hand wall: ${BEST_HAND_S:--} s. Target: lifeboat-recover's RTO at most 10 % over it."
    echo "- RTO s: the recovery record's \`rto_seconds\`, from the runbook's start to the health check green. Wall s of lifeboat-recover adds choosing the set (listing, re-hashing its objects: \"the newest set that verifies\"), the plan's checks, the manual-steps list, writing the config, storing the record and process start/exit. By-hand's wall is the whole sequence, with nothing checked after pg_restore."
    echo "- CPU s: user+sys of the command and every child it waited for (pg_restore, gpg, zstd, tar), plus the gpg-agent gpg starts; server CPU s: the PostgreSQL server meanwhile; other CPU s: the rest of the machine."
    for key in "${!STEPS[@]}"; do
        if [[ -n ${STEPS[$key]} ]]; then
            echo "- $key steps: ${STEPS[$key]}."
        fi
    done
    echo
    echo "Exact commands (paths shortened; the script runs them under GNU time):"
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

# Into BENCHMARKS_MD, under "## Recovery RTO" (created at the end when missing; other sections kept).
mkdir -p "$(dirname "$BENCHMARKS_MD")"
[[ -f $BENCHMARKS_MD ]] || printf '# Benchmarks\n\nOn-demand figures (never in CI); the scripts are in bench/ (see bench/README.md).\n' >"$BENCHMARKS_MD"
if ! grep -qx '## Recovery RTO' "$BENCHMARKS_MD"; then
    {
        echo
        echo "## Recovery RTO"
        echo
        echo "\`bench/recover-compare.sh\`: the time \`lifeboat recover\` takes to bring a set (database and files) back on a bare host (RTO), against the README's \"Restoring a set by hand\" (sha256sum, gpg, zstd, pg_restore -j, tar) on the same set. Newest run last."
        echo
    } >>"$BENCHMARKS_MD"
fi
# Insert the report at the end of the "## Recovery RTO" section (before the next "## " heading).
awk -v report="$REPORT" '
    function emit() { while ((getline line < report) > 0) print line; close(report); done = 1 }
    /^## / && in_section && !done { emit() }
    { print; last = $0 }
    $0 == "## Recovery RTO" { in_section = 1 }
    END { if (!done) { if (last != "") print ""; emit() } }
' "$BENCHMARKS_MD" >"$BENCHMARKS_MD.tmp"
mv "$BENCHMARKS_MD.tmp" "$BENCHMARKS_MD"
lb_log "added to $BENCHMARKS_MD (and $REPORT)"
