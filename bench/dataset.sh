#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2119  # single-quoted code is meant: eval/bash -c get it verbatim
# bench/dataset.sh WORK_DIR [DB_MB] [FILES_MB]
#
# Builds the benchmark data set in WORK_DIR (defaults: DB_MB=550, FILES_MB=550):
#   WORK_DIR/pgdata      a PostgreSQL 15 cluster holding database "bench": an application schema
#                        (dataset-schema.sql: "User", documents, document_data, audit_log, invoices,
#                        billing.payments, enums, a view, btree and GIN indexes) grown in rounds
#                        (dataset-round.sql) until pg_database_size >= DB_MB MiB, then
#                        VACUUM (FREEZE, ANALYZE) + CHECKPOINT so later reads write nothing.
#   WORK_DIR/files       a file tree of >= FILES_MB MiB (dataset-files.awk): many small JSON /
#                        Markdown / HTML files (1-50 KB), medium logs, CSVs and PDFs (100 KB-2 MB),
#                        three large files; about a third of the bytes incompressible (AES-CTR
#                        keystream, i.e. as random as /dev/urandom but reproducible).
#   WORK_DIR/dataset.md  what was built: sizes, row counts, file mix, build times.
# Deterministic: fixed seeds for SQL random() and awk rand(), fixed mtimes on the files.
# Idempotent: each half is rebuilt only if its stamp (parameters + generator version) differs.
# The cluster is started for the build and stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[[ $# -ge 1 ]] || { sed -n '3,19p' "$0"; exit 2; }
WORK_DIR=$1
DB_MB=${2:-550}
FILES_MB=${3:-550}
[[ $DB_MB =~ ^[0-9]+$ && $FILES_MB =~ ^[0-9]+$ ]] || lb_die "DB_MB and FILES_MB must be whole MiB"
[[ $EUID -eq 0 ]] || lb_die "run as root (the cluster runs as the postgres user through runuser)"
lb_require runuser psql pg_ctl initdb openssl awk ss

GEN_VERSION=1   # bump when the generators change, so old data sets are rebuilt
mkdir -p "$WORK_DIR"
WORK_DIR=$(cd "$WORK_DIR" && pwd)
DB_STAMP="db_mb=$DB_MB gen=$GEN_VERSION $(cat "$HERE/dataset-schema.sql" "$HERE/dataset-round.sql" | sha256sum | cut -c1-16)"
FILES_STAMP="files_mb=$FILES_MB gen=$GEN_VERSION $(sha256sum <"$HERE/dataset-files.awk" | cut -c1-16)"

WORDS="agreement signature document contract template recipient signer witness approval invoice
payment account customer order shipment delivery warehouse product price discount tax total amount
balance credit debit refund subscription renewal license policy privacy terms consent notice
clause section party parties obligation liability warranty indemnity termination effective date
period schedule annex exhibit appendix amendment addendum version draft final review comment
field page form upload download archive storage backup restore retention audit log event record
report summary team member owner admin user profile settings webhook token session access key
certificate secure encrypted verified pending completed rejected expired cancelled sent opened
viewed signed the a an of to in for on with by from at as is are was be this that these those
will shall may must should can not no all any each every other such under within without before
after during between upon herein hereby thereof whereas pursuant notwithstanding including and
or but if then else when where which who whom whose while because although however therefore
company organisation business service provider client vendor supplier partner employee contractor
manager director officer board meeting minutes resolution budget forecast quarter annual monthly
weekly daily hour minute request response error warning success failure retry timeout limit
quota plan tier basic premium enterprise trial free paid due overdue reminder notification email
message address street city country postal code phone number name title description note detail
item quantity unit line subtotal currency euro dollar pound rate fee charge cost revenue margin
green blue red fast slow large small new old first last next previous open closed active idle
project milestone deadline task status priority label tag category group folder file image scan"
FIRST="Emma Liam Olivia Noah Ava Elijah Sophia Lucas Mia Mateo Amelia Leon Hannah Finn Lena Jonas
Marie Paul Clara Felix Chloe Louis Lea Hugo Ines Arthur Sofia Luca Giulia Marco Anna Piotr Zofia
Jan Eva Lars Freya Aarav Priya Wei Mei Kenji Yuki Omar Layla Diego Lucia Mateus Ana Sven Ingrid"
LAST="Smith Johnson Williams Brown Jones Garcia Miller Davis Muller Schmidt Schneider Fischer Weber
Meyer Wagner Becker Martin Bernard Dubois Thomas Robert Richard Rossi Russo Ferrari Esposito
Kowalski Nowak Novak Jensen Hansen Larsen Andersson Johansson Singh Patel Wang Li Zhang Tanaka
Sato Suzuki Haddad Khan Silva Santos Oliveira Fernandez Lopez Gonzalez Nielsen Berg"
WORDS=$(tr -s ' \n' ' ' <<<"$WORDS"); FIRST=$(tr -s ' \n' ' ' <<<"$FIRST"); LAST=$(tr -s ' \n' ' ' <<<"$LAST")
sql_array() { printf '{%s}' "$(tr -s ' ' ',' <<<"${1% }" | sed 's/,$//')"; }
expand_sql() {
    sed -e "s|@WORDS@|$(sql_array "$WORDS")|g" -e "s|@FIRST@|$(sql_array "$FIRST")|g" \
        -e "s|@LAST@|$(sql_array "$LAST")|g" "$1"
}

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d bench)

# --- database ----------------------------------------------------------------------------------
build_db() {
    local t0=$SECONDS round=0 size target=$((DB_MB * 1024 * 1024)) seed
    lb_log "database: building 'bench' to >= $DB_MB MiB"
    psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
    expand_sql "$HERE/dataset-schema.sql" | "${PSQL[@]}" >/dev/null
    # Per round: ~30 MiB on disk (users, documents + PDFs + audit events, invoices + payments).
    while :; do
        size=$("${PSQL[@]}" -Atc "SELECT pg_database_size('bench')")
        ((size < target)) || break
        round=$((round + 1))
        seed=$(awk -v r=$round 'BEGIN { printf "%.6f", (r * 0.0137) - int(r * 0.0137) }')
        expand_sql "$HERE/dataset-round.sql" |
            "${PSQL[@]}" -v round=$round -v seed="$seed" -v users=400 -v docs=5000 -v invoices=1500 -v blobs=35 >/dev/null
        lb_log "  round $round: $((size / 1048576)) MiB before, $((SECONDS - t0)) s"
    done
    "${PSQL[@]}" -c 'DROP SCHEMA bench_gen CASCADE' >/dev/null
    "${PSQL[@]}" -c 'VACUUM (FREEZE, ANALYZE)' -c 'CHECKPOINT' >/dev/null
    echo "$((SECONDS - t0)) $round" >"$WORK_DIR/db.build-seconds"
}

# --- files -------------------------------------------------------------------------------------
build_files() {
    local t0=$SECONDS tmp=$WORK_DIR/files.tmp size path i=0
    lb_log "files: building >= $FILES_MB MiB in $WORK_DIR/files"
    rm -rf "$tmp" "$WORK_DIR/files"
    mkdir -p "$tmp"
    awk -v root="$tmp" -v total=$((FILES_MB * 1024 * 1024)) -v seed=4242 \
        -v words="$WORDS" -v first="$FIRST" -v last="$LAST" \
        -f "$HERE/dataset-files.awk" >"$WORK_DIR/files.random-plan"
    while IFS=$'\t' read -r size path; do
        i=$((i + 1))
        mkdir -p "$(dirname "$path")"
        # AES-128-CTR keystream over zeros: incompressible, reproducible, fast.
        head -c "$size" /dev/zero |
            openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$i")" -iv 00000000000000000000000000000000 -out "$path"
    done <"$WORK_DIR/files.random-plan"
    find "$tmp" -exec touch -h -d '2024-06-01 12:00:00 UTC' {} +
    mv "$tmp" "$WORK_DIR/files"
    echo $((SECONDS - t0)) >"$WORK_DIR/files.build-seconds"
}

# --- report ------------------------------------------------------------------------------------
describe() {
    local out=$WORK_DIR/dataset.md rand_bytes
    rand_bytes=$(awk -F'\t' '{ s += $1 } END { print s + 0 }' "$WORK_DIR/files.random-plan")
    {
        echo "# Benchmark data set ($WORK_DIR)"
        echo
        echo "Parameters: DB_MB=$DB_MB FILES_MB=$FILES_MB, generator version $GEN_VERSION."
        read -r db_s db_rounds <"$WORK_DIR/db.build-seconds" || true
        echo "Database built in ${db_s:-?} s (${db_rounds:-?} rounds of dataset-round.sql); files in $(cat "$WORK_DIR/files.build-seconds" 2>/dev/null || echo '?') s."
        echo
        echo "## Database \"bench\""
        echo
        echo '```'
        "${PSQL[@]}" -P footer=off -c "SELECT pg_size_pretty(pg_database_size('bench')) AS database_size, pg_database_size('bench') AS bytes"
        "${PSQL[@]}" -P footer=off -c "
            SELECT n.nspname || '.' || c.relname AS \"table\", c.reltuples::bigint AS \"rows (est.)\",
                   pg_size_pretty(pg_table_size(c.oid)) AS \"table+toast\",
                   pg_size_pretty(pg_indexes_size(c.oid)) AS indexes,
                   pg_size_pretty(pg_total_relation_size(c.oid)) AS total
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            ORDER BY pg_total_relation_size(c.oid) DESC"
        echo '```'
        echo
        echo "## Files ($WORK_DIR/files)"
        echo
        echo "- total: $(du -sb "$WORK_DIR/files" | cut -f1) bytes (du -sb), $(find "$WORK_DIR/files" -type f | wc -l) files, $(find "$WORK_DIR/files" -type d | wc -l) directories"
        echo "- incompressible (AES-CTR keystream): $rand_bytes bytes in $(wc -l <"$WORK_DIR/files.random-plan") files"
        echo "- by size: $(find "$WORK_DIR/files" -type f -printf '%s\n' | awk '
              { if ($1 < 65536) a++; else if ($1 < 4194304) b++; else c++ }
              END { printf "%d under 64 KiB, %d of 64 KiB-4 MiB, %d over 4 MiB", a, b, c }')"
        echo "- largest:"
        find "$WORK_DIR/files" -type f -printf '%s %P\n' | sort -rn | awk 'NR <= 3 { printf "  - %s (%.1f MiB)\n", $2, $1 / 1048576 }'
    } >"$out"
    lb_log "wrote $out"
}

# --- main --------------------------------------------------------------------------------------
pg_cluster_start "$WORK_DIR/pgdata"

if [[ $(cat "$WORK_DIR/dataset.files.stamp" 2>/dev/null) != "$FILES_STAMP" || ! -d $WORK_DIR/files ]]; then
    rm -f "$WORK_DIR/dataset.files.stamp"
    build_files &   # awk + openssl run on one core while PostgreSQL loads on the other
    files_pid=$!
    lb_on_exit 'if kill -0 $files_pid 2>/dev/null; then pkill -P $files_pid; kill $files_pid; fi' 
else
    lb_log "files: up to date ($FILES_STAMP)"
    files_pid=""
fi

db_ok=$("${PSQL[@]}" -Atc "SELECT 1" 2>/dev/null || true)
if [[ $(cat "$WORK_DIR/dataset.db.stamp" 2>/dev/null) != "$DB_STAMP" || $db_ok != 1 ]]; then
    rm -f "$WORK_DIR/dataset.db.stamp"
    build_db
    echo "$DB_STAMP" >"$WORK_DIR/dataset.db.stamp"
    rebuilt=1
else
    lb_log "database: up to date ($DB_STAMP)"
fi

if [[ -n $files_pid ]]; then
    wait "$files_pid"
    echo "$FILES_STAMP" >"$WORK_DIR/dataset.files.stamp"
fi
if [[ -n ${rebuilt:-} || -n $files_pid || ! -f $WORK_DIR/dataset.md ]]; then
    describe
fi
cat "$WORK_DIR/dataset.md"
