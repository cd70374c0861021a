#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119  # single-quoted code is meant: eval/bash -c get it verbatim
# bench/backup-compare.sh: one full backup of the same data, on the same machine, in the same run,
# by each of:
#   seed000    the operators' pipeline today (shared/seeds 000 + 004): pg_dump -Fc (default
#              compression), tar -czf of the files, sha256sum of both, gpg --symmetric AES256 of
#              both, cp of the .gpg files and the checksums into a repository directory
#   restic     restic init + pg_dump -Fc -Z0 | restic backup --stdin, + restic backup FILES
#   lifeboat   target/release/lifeboat --config CONFIG backup --json (zstd at LIFEBOAT_LEVEL, default 1, passphrase mode),
#              built first with cargo build --release; a failure is reported, not fatal
#   floor-io   pg_dump -Fc -Z0 and tar -cf of the files, concurrently, into wc -c (nothing
#              stored): how fast the data can be read at all
#   floor-pigz pg_dump -Fc -Z0 | pigz -6 and tar -cf | pigz -6, concurrently, into files
#   floor-zstd the same with zstd -3 -T0 (lifeboat's codec and level) instead of pigz -6
#   verify-lifeboat   lifeboat verify --latest --json over the set the lifeboat run just wrote:
#              every stored object re-hashed (SHA-256) against checksums.sha256 and the manifest
#   verify-sha256sum  sha256sum of the same set's files (the floor for checking it by hand)
#   (the two verify runs need the lifeboat run earlier in TOOLS)
# Before each run: wait (up to QUIET_TIMEOUT s) for an idle machine, restart the benchmark
# cluster (cold shared_buffers) and drop the page cache (sync; echo 3 > /proc/sys/vm/drop_caches;
# if that is not permitted the report says so). Each run is measured with GNU time (lib.sh
# `measure`):
#   wall; CPU = user+sys of the tool and every child it waited for, plus any gpg-agent it started
#   for the benchmark's GNUPGHOME (a detached daemon GNU time cannot see; counted from /proc, then
#   ended); server CPU = what the PostgreSQL server spent serving it (postmaster + reaped
#   backends); other CPU = the rest of the machine's busy CPU meanwhile (rows where it is large
#   are marked "machine busy": someone else was using the machine); peak RSS = GNU time %M, the
#   LARGEST single process of the tree, not a sum; for lifeboat, which runs directly under time,
#   also its own VmHWM sampled from /proc (pg_dump is a separate process); stored = du -sb of the
#   repository.
# seed000 and lifeboat share one fresh GNUPGHOME under /tmp (exported), removed at exit.
#
# Usage (as root, from anywhere; never run in CI):
#   bench/backup-compare.sh
# Environment:
#   WORK_DIR=bench/work   data set, repositories, logs (git-ignored); reused between runs
#   DB_MB=550 FILES_MB=550   data set size (dataset.sh builds or rebuilds it when they change)
#   TOOLS="seed000 restic lifeboat floor-io floor-pigz floor-zstd verify-lifeboat verify-sha256sum"
#                         which runs, in this order
#   RUNS=1                each tool is run this many times (rows tool#1, tool#2, ...)
#   SKIP_BUILD=1          do not run cargo build --release; LIFEBOAT_BIN=path to use another binary
#   QUIET_TIMEOUT=180     seconds to wait for an idle machine before each run (then measure anyway;
#                         rows where other processes used noticeable CPU are marked "machine busy")
#   RESULTS_DIR=bench/results   the report is appended to RESULTS_DIR/backup-YYYY-MM-DD.md
# Output: a Markdown table on stdout, appended with machine facts, the data set and the exact
# command to the report file; raw rows in WORK_DIR/results-<time>.tsv; per-run logs in WORK_DIR/logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

COMMAND_LINE="$(for v in WORK_DIR DB_MB FILES_MB TOOLS RUNS SKIP_BUILD LIFEBOAT_BIN LIFEBOAT_LEVEL QUIET_TIMEOUT RESULTS_DIR; do
    if [[ -n ${!v:-} ]]; then printf '%s=%q ' "$v" "${!v}"; fi; done)bench/backup-compare.sh${*:+ $*}"
WORK_DIR=${WORK_DIR:-$HERE/work}
DB_MB=${DB_MB:-550}
FILES_MB=${FILES_MB:-550}
TOOLS=${TOOLS:-seed000 restic lifeboat floor-io floor-pigz floor-zstd verify-lifeboat verify-sha256sum}
RUNS=${RUNS:-1}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
LIFEBOAT_BIN=${LIFEBOAT_BIN:-$REPO_ROOT/target/release/lifeboat}

[[ $EUID -eq 0 ]] || lb_die "run as root (drop_caches, runuser for the cluster)"
lb_require restic pigz gpg gpgconf tar sha256sum runuser pg_dump "$GNU_TIME"
[[ " $TOOLS " != *" floor-zstd "* ]] || lb_require zstd

mkdir -p "$WORK_DIR" "$RESULTS_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
RESULTS_DIR=$(cd "$RESULTS_DIR" && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export LOG_DIR=$WORK_DIR/logs RESULTS_TSV=$WORK_DIR/results-$STAMP.tsv
mkdir -p "$LOG_DIR"
rm -f "$LOG_DIR"/*.log
echo "$RESULTS_TSV_HEADER" >"$RESULTS_TSV"

# --- data set -----------------------------------------------------------------------------------
"$HERE/dataset.sh" "$WORK_DIR" "$DB_MB" "$FILES_MB" >/dev/null

# --- lifeboat build -----------------------------------------------------------------------------
LIFEBOAT_NOTE=""
if [[ " $TOOLS " == *" lifeboat "* || " $TOOLS " == *" verify-lifeboat "* ]]; then
    if [[ ${SKIP_BUILD:-0} != 1 ]]; then
        lb_log "cargo build --release (log: $LOG_DIR/cargo-build.log)"
        if ! (cd "$REPO_ROOT" && cargo build --release) >"$LOG_DIR/cargo-build.log" 2>&1; then
            LIFEBOAT_NOTE="cargo build --release failed: $(grep -m1 -E '^error' "$LOG_DIR/cargo-build.log" || tail -1 "$LOG_DIR/cargo-build.log")"
            lb_log "$LIFEBOAT_NOTE"
            tail -20 "$LOG_DIR/cargo-build.log" >&2
        fi
    fi
    if [[ -z $LIFEBOAT_NOTE && ! -x $LIFEBOAT_BIN ]]; then
        LIFEBOAT_NOTE="no lifeboat binary at $LIFEBOAT_BIN"
        lb_log "$LIFEBOAT_NOTE"
    fi
fi

# --- shared secrets and settings ---------------------------------------------------------------
bench_setup   # passphrase, a private GNUPGHOME, the benchmark cluster (lib.sh)

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
fresh() { rm -rf "$@"; mkdir -p "$@"; }

run_seed000() {
    local name=$1 out=$WORK_DIR/out-seed000
    fresh "$out/staging" "$out/repo"
    rm -f "$out/steps"
    cold_start
    MEASURE_STORED="$out/repo" measure "$name" bash -c '
        set -euo pipefail
        out=$1 work=$2 pf=$3
        cd "$out/staging"
        mark() { echo "$1 $EPOCHREALTIME" >>"$out/steps"; }
        mark pg_dump
        pg_dump -Fc -f db.dump
        mark tar-czf
        tar -czf files.tar.gz -C "$work" files
        mark sha256sum
        sha256sum db.dump files.tar.gz >checksums.sha256
        mark gpg
        for f in db.dump files.tar.gz; do
            gpg --batch --yes --pinentry-mode loopback --passphrase-file "$pf" \
                --symmetric --cipher-algo AES256 -o "$f.gpg" "$f"
        done
        mark cp
        cp db.dump.gpg files.tar.gz.gpg checksums.sha256 "$out/repo/"
        mark end
    ' seed000 "$out" "$WORK_DIR" "$PASSPHRASE_FILE" || true
    # Wall time of each step, for the report: "pg_dump 18.1 s, tar-czf 17.0 s, ..."
    SEED000_STEPS=$(awk 'NR > 1 { printf "%s%s %.1f s", sep, name, $2 - t; sep = ", " } { name = $1; t = $2 }' "$out/steps")
    rm -rf "$out/staging"   # the plaintext intermediates are not part of what is stored
}

run_restic() {
    local name=$1 out=$WORK_DIR/out-restic
    fresh "$out"
    cold_start
    RESTIC_REPOSITORY=$out/repo RESTIC_PASSWORD_FILE=$PASSPHRASE_FILE RESTIC_CACHE_DIR=$out/cache \
    MEASURE_STORED="$out/repo" measure "$name" bash -c '
        set -euo pipefail
        export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR
        restic init
        pg_dump -Fc -Z0 | restic backup --stdin --stdin-filename db.dump
        restic backup "$1/files"
    ' restic "$WORK_DIR" || true
}

run_lifeboat() {
    local name=$1 out=$WORK_DIR/out-lifeboat
    if [[ -n $LIFEBOAT_NOTE ]]; then
        printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "not run" >>"$RESULTS_TSV"
        return 0
    fi
    fresh "$out/data" "$out/state"
    rm -rf "$out/repo"   # lifeboat creates (initialises) its repository itself
    cat >"$out/lifeboat.toml" <<EOF
[source]
database_url = "postgresql://postgres@127.0.0.1:$PGPORT/bench"
files = ["$WORK_DIR/files"]
key_tables = ['"User"', "public.documents", "billing.payments"]

[repository]
url = "file://$out/repo"

[encryption]
mode = "passphrase"
passphrase_file = "$PASSPHRASE_FILE"

[backup]
compression = "zstd"
level = ${LIFEBOAT_LEVEL:-1}
EOF
    cold_start
    # The port is kept across restarts, so the config stays valid.
    LIFEBOAT_DATA_DIR=$out/data LIFEBOAT_STATE_DIR=$out/state MEASURE_SAMPLE_HWM=1 \
    MEASURE_STORED="$out/repo" measure "$name" "$LIFEBOAT_BIN" --config "$out/lifeboat.toml" backup --json || true
}

run_floor_io() {
    local name=$1 out=$WORK_DIR/out-floor-io
    fresh "$out"
    cold_start
    # Into wc -c, not > /dev/null: GNU tar notices an archive that is /dev/null and then does
    # not read the file contents at all.
    measure "$name" bash -c '
        set -euo pipefail
        pg_dump -Fc -Z0 | wc -c >"$1/db.bytes" &
        db=$!
        tar -cf - -C "$2" files | wc -c >"$1/files.bytes" &
        files=$!
        wait "$db"
        wait "$files"
    ' floor-io "$out" "$WORK_DIR" || true
    INPUT_DB_BYTES=$(cat "$out/db.bytes" 2>/dev/null || echo 0)
    INPUT_FILES_BYTES=$(cat "$out/files.bytes" 2>/dev/null || echo 0)
}

run_floor_pigz() {
    local name=$1 out=$WORK_DIR/out-floor-pigz
    fresh "$out"
    cold_start
    MEASURE_STORED="$out" measure "$name" bash -c '
        set -euo pipefail
        pg_dump -Fc -Z0 | pigz -6 >"$1/db.dump.gz" &
        db=$!
        tar -cf - -C "$2" files | pigz -6 >"$1/files.tar.gz" &
        files=$!
        wait "$db"
        wait "$files"
    ' floor-pigz "$out" "$WORK_DIR" || true
}

run_floor_zstd() {
    local name=$1 out=$WORK_DIR/out-floor-zstd
    fresh "$out"
    cold_start
    # lifeboat's own codec and level (zstd 3), multithreaded, no encryption, no hashing.
    MEASURE_STORED="$out" measure "$name" bash -c '
        set -euo pipefail
        pg_dump -Fc -Z0 | zstd -q -3 -T0 >"$1/db.dump.zst" &
        db=$!
        tar -cf - -C "$2" files | zstd -q -3 -T0 >"$1/files.tar.zst" &
        files=$!
        wait "$db"
        wait "$files"
    ' floor-zstd "$out" "$WORK_DIR" || true
}

# The set the lifeboat run wrote (its folder), for the verify runs.
lifeboat_set_dir() {
    find "$WORK_DIR/out-lifeboat/repo/sets" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort | tail -1
}

run_verify_lifeboat() {
    local name=$1 out=$WORK_DIR/out-lifeboat
    if [[ -n $LIFEBOAT_NOTE || -z $(lifeboat_set_dir) ]]; then
        printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "not run" >>"$RESULTS_TSV"
        return 0
    fi
    cold_start
    LIFEBOAT_DATA_DIR=$out/data LIFEBOAT_STATE_DIR=$out/state MEASURE_SAMPLE_HWM=1 \
        measure "$name" "$LIFEBOAT_BIN" --config "$out/lifeboat.toml" verify --latest --json || true
    VERIFY_BYTES=$(du -sbc "$(lifeboat_set_dir)" | tail -1 | cut -f1)
}

run_verify_sha256sum() {
    local name=$1 set
    set=$(lifeboat_set_dir)
    if [[ -z $set ]]; then
        printf '%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$name" "not run" >>"$RESULTS_TSV"
        return 0
    fi
    cold_start
    measure "$name" bash -c 'cd "$1" && sha256sum -- *' verify-sha256sum "$set" || true
    VERIFY_BYTES=$(du -sbc "$set" | tail -1 | cut -f1)
}

VERIFY_BYTES=0
SEED000_STEPS=""
INPUT_DB_BYTES=0
INPUT_FILES_BYTES=0
for run in $(seq 1 "$RUNS"); do
    for tool in $TOOLS; do
        name=$tool
        ((RUNS > 1)) && name="$tool#$run"
        case $tool in
            seed000) run_seed000 "$name" ;;
            restic) run_restic "$name" ;;
            lifeboat) run_lifeboat "$name" ;;
            floor-io) run_floor_io "$name" ;;
            floor-pigz) run_floor_pigz "$name" ;;
            floor-zstd) run_floor_zstd "$name" ;;
            verify-lifeboat) run_verify_lifeboat "$name" ;;
            verify-sha256sum) run_verify_sha256sum "$name" ;;
            *) lb_die "unknown tool '$tool' in TOOLS" ;;
        esac
    done
done
if ((INPUT_DB_BYTES == 0)); then   # floor-io did not run: measure the input sizes, unmeasured
    INPUT_DB_BYTES=$(pg_dump -Fc -Z0 | wc -c)
    INPUT_FILES_BYTES=$(tar -cf - -C "$WORK_DIR" files | wc -c)
fi
DB_SIZE=$(psql -X -Atc "SELECT pg_database_size('bench')")
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
pg_cluster_stop

# --- report -----------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN { if (b == "-" || b == "") print "-"; else printf "%.1f", b / 1048576 }'; }
kib_mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "" || k == 0) print "-"; else printf "%.1f", k / 1024 }'; }
FILES_BYTES=$(du -sb "$WORK_DIR/files" | cut -f1)
FILES_COUNT=$(find "$WORK_DIR/files" -type f | wc -l)
RANDOM_BYTES=$(awk -F'\t' '{ s += $1 } END { print s + 0 }' "$WORK_DIR/files.random-plan")
INPUT_BYTES=$((INPUT_DB_BYTES + INPUT_FILES_BYTES))

table() {
    echo "| tool | status | wall s | CPU s (user+sys) | server CPU s | other CPU s | peak RSS MiB (largest process) | lifeboat own peak RSS MiB | stored MiB | stored / input |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    tail -n +2 "$RESULTS_TSV" | while IFS=$'\t' read -r name status wall cpu _ _ maxrss hwm srv stored mach daemon; do
        local st ratio other cpu_shown
        # Daemons the run left behind (gpg-agent) worked for it: their CPU goes in the CPU column.
        cpu_shown=$cpu
        if [[ $daemon != - && $daemon != 0.00 ]]; then
            cpu=$(awk -v c="$cpu" -v d="$daemon" 'BEGIN { printf "%.2f", c + d }')
            cpu_shown="$cpu (gpg-agent $daemon)"
        fi
        other=$(awk -v m="$mach" -v c="$cpu" -v s="$srv" 'BEGIN { if (m == "-") print "-"; else printf "%.1f", m - c - s }')
        case $status in 0) st=ok ;; "not run") st="not run" ;; *) st="failed ($status)" ;; esac
        if [[ $mach != - ]] && awk -v m="$mach" -v c="$cpu" -v s="$srv" \
            'BEGIN { o = m - c - s; exit !(o > 1.0 && o > 0.2 * (c + s)) }'; then
            st="$st, machine busy"
        fi
        ratio=-
        if [[ $stored != - && $INPUT_BYTES -gt 0 ]]; then
            ratio=$(awk -v s="$stored" -v i="$INPUT_BYTES" 'BEGIN { printf "%.1f %%", 100 * s / i }')
        fi
        echo "| $name | $st | $wall | $cpu_shown | $srv | $other | $(kib_mib "$maxrss") | $(kib_mib "$hwm") | $(mib "$stored") | $ratio |"
    done
}

machine() {
    echo "- nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- load average (1/5/15 min) before the runs: $LOADAVG_START; after: $LOADAVG_END (anything else busy on the machine skews the figures)"
    echo "- kernel: $(uname -sr); $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- filesystem of WORK_DIR: $(df -T "$WORK_DIR" | awk 'NR == 2 { print $2 " on " $1 }')"
    echo "- $(pg_dump --version); server $(postgres --version | awk '{ print $3 }') with shared_buffers=256MB, other settings default (fsync on)"
    echo "- $(restic version | cut -d' ' -f1-2); $(gpg --version | head -1); $(pigz --version 2>&1); $(zstd --version 2>/dev/null | sed 's/^\*\*\* //; s/, by.*//'); $(tar --version | head -1); GNU time $(dpkg-query -W -f='${Version}' time 2>/dev/null || echo '?')"
    if [[ -x $LIFEBOAT_BIN ]]; then
        echo "- lifeboat: $("$LIFEBOAT_BIN" --version 2>&1 | head -1 || true) (binary $(date -u -r "$LIFEBOAT_BIN" +%FT%TZ)); source $(cd "$REPO_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "without a commit")$(cd "$REPO_ROOT" && [[ -n $(git status --porcelain -- src Cargo.toml 2>/dev/null) ]] && echo " + uncommitted changes")"
    fi
}

REPORT=$RESULTS_DIR/backup-$(date -u +%F).md
{
    echo "## Backup comparison, $(date -u '+%F %H:%M') UTC"
    echo
    echo "Command: \`$COMMAND_LINE\` (as root; WORK_DIR=$WORK_DIR)"
    echo
    echo "Data set (bench/dataset.sh, DB_MB=$DB_MB FILES_MB=$FILES_MB): database \`bench\` $(mib "$DB_SIZE") MiB on disk (pg_database_size), $(mib "$INPUT_DB_BYTES") MiB as \`pg_dump -Fc -Z0\`; files $(mib "$FILES_BYTES") MiB in $FILES_COUNT files, of which $(mib "$RANDOM_BYTES") MiB incompressible; tar stream $(mib "$INPUT_FILES_BYTES") MiB. \"Input\" below = dump + tar stream = $(mib "$INPUT_BYTES") MiB."
    echo
    echo "Cold runs: $COLD_NOTE. Each run waited for a quiet machine first (2 s under 15 % of one CPU)${BUSY_NOTE:+; but $BUSY_NOTE}."
    echo
    table
    echo
    echo "- wall / CPU: GNU time of the whole run (a \`bash -c\` script for all but lifeboat); CPU is user+sys of the tool and every child it waited for, plus the daemons it started and left running (gpg-agent, shown in brackets; measured from /proc, then ended). The PostgreSQL server's own work is not in it: it is the separate \"server CPU\" column (postmaster and its reaped backends)."
    echo "- other CPU: busy CPU of the whole machine during the run (/proc/stat) minus the two columns before it; near 0 when nothing else ran (kernel writeback and page-cache work are in it too). A row is marked \"machine busy\" when it exceeds 1 s and 20 % of CPU + server CPU."
    echo "- peak RSS: GNU time %M, the largest RSS of any single process of the tree (not a sum). \"lifeboat own\" is the VmHWM of the lifeboat process alone, sampled from /proc every 50 ms (a lower bound)."
    echo "- stored: \`du -sb\` of what stays in the repository: seed000 the two .gpg files and checksums.sha256; restic and lifeboat their repository directories; floor-pigz and floor-zstd their two compressed files. floor-io stores nothing (it reads into \`wc -c\`)."
    if ((VERIFY_BYTES > 0)); then
        echo "- verify-lifeboat and verify-sha256sum read the $(mib "$VERIFY_BYTES") MiB the lifeboat run stored (one set); verify speed relative to sha256sum (sha256sum wall / lifeboat verify wall, target at least 0.9): $(awk -F'\t' '$1 ~ /^verify-lifeboat/ && $2 == 0 { l = $3 } $1 ~ /^verify-sha256sum/ && $2 == 0 { s = $3 } END { if (l > 0 && s > 0) printf "%.2f", s / l; else print "-" }' "$RESULTS_TSV")."
    fi
    [[ -n $SEED000_STEPS ]] && echo "- seed000 steps (wall, last run): $SEED000_STEPS."
    echo "- gpg compresses its input again (zlib) unless it recognises it as already compressed: it does recognise .tar.gz, not pg_dump's custom format, so seed000 deflates the dump twice. restic 0.14 writes a v2 repository with its default compression (auto: zstd, fastest level)."
    echo "- seed000 and restic include their one-off set-up in the time (gpg key derivation; \`restic init\`)."
    [[ -n $LIFEBOAT_NOTE ]] && echo "- lifeboat was not run: $LIFEBOAT_NOTE"
    echo
    echo "Machine:"
    echo
    machine
    lifeboat_log=$(find "$LOG_DIR" -name 'lifeboat*.log' | sort | awk 'NR == 1')
    if [[ -n $lifeboat_log ]]; then
        echo
        echo "lifeboat output (first 40 lines of $lifeboat_log):"
        echo
        echo '```'
        awk 'NR <= 40 { print substr($0, 1, 400) }' "$lifeboat_log"
        echo '```'
    fi
    echo
    echo "<details><summary>raw rows ($(basename "$RESULTS_TSV"))</summary>"
    echo
    echo '```'
    cat "$RESULTS_TSV"
    echo '```'
    echo
    echo "</details>"
    echo
} >"$WORK_DIR/report-$STAMP.md"
cat "$WORK_DIR/report-$STAMP.md" >>"$REPORT"
cat "$WORK_DIR/report-$STAMP.md"
lb_log "appended to $REPORT"
