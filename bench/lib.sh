# shellcheck shell=bash disable=SC2016,SC2119,SC2120
# bench/lib.sh: shared functions for the lifeboat benchmarks. Source it; do not run it.
#
#   lb_log MSG...                 message to stderr with a timestamp
#   pg_cluster_init PGDATA        initdb (as the postgres user) unless PGDATA already holds a cluster
#   pg_cluster_start PGDATA       take PGDATA's lock (one benchmark script at a time), start the
#                                 cluster on 127.0.0.1 and a free port; exports PGHOST PGPORT PGUSER
#                                 and registers pg_cluster_stop to run when the script exits
#   pg_cluster_stop               stop the cluster started by pg_cluster_start (idempotent)
#   pg_cluster_restart            stop + start on the same port (empties shared_buffers)
#   drop_caches                   sync and drop the page cache; returns 1 (and says so) if not permitted
#   wait_quiet [TIMEOUT_S]        wait for 2 s of a nearly idle machine
#   measure NAME CMD...           run CMD under GNU time, append a TSV row to $RESULTS_TSV (also the
#                                 server's CPU, the machine's, and that of gpg-agents CMD left behind)
#
# Cleanups registered with lb_on_exit run in reverse order on EXIT, INT and TERM.

PG_BIN_DIR=${PG_BIN_DIR:-/usr/lib/postgresql/15/bin}
# Use the version-15 binaries directly, not Debian's pg_wrapper (a perl script in front of each one).
export PATH="$PG_BIN_DIR:$PATH"
GNU_TIME=${GNU_TIME:-/usr/bin/time}
CLK_TCK=$(getconf CLK_TCK)

lb_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
lb_die() { lb_log "error: $*"; exit 1; }

# --- exit cleanups -----------------------------------------------------------------------------
LB_CLEANUPS=()
lb_on_exit() { LB_CLEANUPS+=("$*"); }
LB_MEASURE_PID=""   # the GNU time process of a measurement in progress
lb_run_cleanups() {
    local i
    if [[ -n $LB_MEASURE_PID ]]; then
        lb_log "ending the measured command (pid $LB_MEASURE_PID and its descendants)"
        lb_kill_tree "$LB_MEASURE_PID"
        wait "$LB_MEASURE_PID" 2>/dev/null || true
        LB_MEASURE_PID=""
    fi
    for ((i = ${#LB_CLEANUPS[@]} - 1; i >= 0; i--)); do
        eval "${LB_CLEANUPS[i]}" || true
    done
    LB_CLEANUPS=()
}
# lb_kill_tree PID: SIGTERM to PID and all its descendants (listed first, then ended parents
# first, so that no parent can start another child in between).
lb_tree_pids() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" || true); do
        lb_tree_pids "$c"
    done
}
lb_kill_tree() {
    local p
    for p in $(lb_tree_pids "$1"); do
        kill -TERM "$p" 2>/dev/null || true
    done
}
trap 'lb_run_cleanups' EXIT
trap 'lb_log "interrupted"; exit 130' INT
trap 'lb_log "terminated"; exit 143' TERM

lb_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || lb_die "'$c' not found (apt-get install -y the package that provides it)"
    done
}

# --- PostgreSQL ------------------------------------------------------------------------------
as_postgres() { runuser -u postgres -- "$@"; }

pg_cluster_init() {
    local pgdata=$1
    if [[ -f $pgdata/PG_VERSION ]]; then
        return 0
    fi
    lb_log "initdb $pgdata"
    rm -rf "$pgdata"
    mkdir -p "$pgdata"
    chown postgres: "$pgdata"
    chmod 700 "$pgdata"
    # The postgres user must be able to reach the data dir (work dirs are usually root-owned 755).
    as_postgres test -x "$pgdata" || lb_die "postgres cannot reach $pgdata: make its parents traversable"
    as_postgres "$PG_BIN_DIR/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >"$pgdata.initdb.log" 2>&1 ||
        { cat "$pgdata.initdb.log" >&2; lb_die "initdb failed"; }
    # Defaults everywhere (fsync stays on: the benchmark server is a normal server), except
    # shared_buffers; listen on loopback only.
    cat >>"$pgdata/postgresql.conf" <<'EOF'

# --- lifeboat bench ---
shared_buffers = 256MB
listen_addresses = '127.0.0.1'
EOF
}

# First free TCP port on 127.0.0.1 at or above $1 (default 55432).
free_port() {
    local port=${1:-55432} used
    used=$(ss -Htan | awk '{print $4}' | sed -n 's/.*:\([0-9]\+\)$/\1/p' | sort -un)
    while grep -qx "$port" <<<"$used"; do
        port=$((port + 1))
    done
    echo "$port"
}

# pg_cluster_lock PGDATA: one benchmark script at a time per data dir (backup-compare.sh,
# drill-compare.sh and dataset.sh share WORK_DIR/pgdata). Held until this script exits; waits up
# to LB_LOCK_WAIT (default 3600) seconds for another one to finish.
LB_PGLOCK_FD=""
pg_cluster_lock() {
    local lock=$1.lock
    [[ -z $LB_PGLOCK_FD ]] || return 0
    mkdir -p "$(dirname "$lock")"
    exec {LB_PGLOCK_FD}>"$lock"
    if ! flock -n "$LB_PGLOCK_FD"; then
        lb_log "another benchmark script is using $1: waiting for it (up to ${LB_LOCK_WAIT:-3600} s)"
        flock -w "${LB_LOCK_WAIT:-3600}" "$LB_PGLOCK_FD" || lb_die "$1 is still in use by another benchmark script"
    fi
}

# without_lock CMD...: run CMD without the lock's fd, so that no daemon it leaves behind (a
# postmaster, a gpg-agent) keeps holding the lock after this script has exited.
without_lock() {
    if [[ -n $LB_PGLOCK_FD ]]; then
        "$@" {LB_PGLOCK_FD}>&-
    else
        "$@"
    fi
}

LB_PGDATA=""
LB_PGSOCK=""
pg_cluster_start() {
    local pgdata=$1 port
    pg_cluster_lock "$pgdata"
    pg_cluster_init "$pgdata"
    port=${PGPORT_WANTED:-$(free_port)}
    if [[ -z $LB_PGSOCK ]]; then
        LB_PGSOCK=$(mktemp -d /tmp/lbbench-pg.XXXXXX)   # short path: unix socket names are limited to 107 bytes
        chown postgres: "$LB_PGSOCK"
        lb_on_exit 'rm -rf "$LB_PGSOCK"'
        lb_on_exit 'pg_cluster_stop'
    fi
    # A crash of an earlier run may have left a server running on this data dir.
    if as_postgres "$PG_BIN_DIR/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
        lb_log "a server is already running on $pgdata: stopping it"
        as_postgres "$PG_BIN_DIR/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null
    fi
    without_lock as_postgres "$PG_BIN_DIR/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" -w -t 120 \
        -o "-p $port -k $LB_PGSOCK" start >/dev/null ||
        { tail -20 "$pgdata/server.log" >&2; lb_die "pg_ctl start failed"; }
    LB_PGDATA=$pgdata
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
    lb_log "PostgreSQL up on 127.0.0.1:$port ($pgdata)"
}

pg_cluster_stop() {
    [[ -n $LB_PGDATA ]] || return 0
    as_postgres "$PG_BIN_DIR/pg_ctl" -D "$LB_PGDATA" -m fast -w -t 120 stop >/dev/null 2>&1 || true
    lb_log "PostgreSQL stopped ($LB_PGDATA)"
    LB_PGDATA=""
}

pg_cluster_restart() {
    local pgdata=$LB_PGDATA port=$PGPORT
    pg_cluster_stop
    PGPORT_WANTED=$port pg_cluster_start "$pgdata"
}

postmaster_pid() { head -1 "$LB_PGDATA/postmaster.pid"; }

# CPU ticks used so far by the postmaster and every child it has reaped (backends exit at
# disconnect and are reaped at once, so a finished connection's work is in cutime+cstime).
server_cpu_ticks() {
    local pid stat
    pid=$(postmaster_pid) || { echo 0; return; }
    stat=$(<"/proc/$pid/stat")
    stat=${stat##*) }   # drop "pid (comm) "
    # shellcheck disable=SC2086
    set -- $stat         # now $12..$15 are utime stime cutime cstime
    echo $(( ${12} + ${13} + ${14} + ${15} ))
}

# Busy CPU ticks of the whole machine so far (all CPUs; idle and iowait excluded).
machine_busy_ticks() {
    local user nice system irq softirq steal _
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# Number of postmaster children (auxiliary processes + backends).
server_children() { pgrep -c -P "$(postmaster_pid)" || true; }

# A client that has exited may leave its backend still finishing for a moment; wait (up to 5 s)
# until the postmaster is back to $1 children, so that backend's CPU is in cutime/cstime.
server_backends_settle() {
    local i
    for ((i = 0; i < 100; i++)); do
        (($(server_children) <= $1)) && return 0
        sleep 0.05
    done
}

# wait_quiet [TIMEOUT_S]: wait until the machine has been nearly idle (< 15 % of one CPU busy) for
# 2 s, at most TIMEOUT_S (default $QUIET_TIMEOUT or 180) seconds. Returns 1 if it never was.
wait_quiet() {
    local timeout=${1:-${QUIET_TIMEOUT:-180}} start=$SECONDS b0 b1 said=0
    while ((SECONDS - start < timeout)); do
        b0=$(machine_busy_ticks)
        sleep 2
        b1=$(machine_busy_ticks)
        if (((b1 - b0) * 100 < 15 * 2 * CLK_TCK)); then
            return 0
        fi
        if ((said == 0)); then
            lb_log "machine busy ($(((b1 - b0) * 100 / (2 * CLK_TCK))) % of one CPU): waiting up to ${timeout} s for it to calm down"
            said=1
        fi
    done
    lb_log "warning: the machine stayed busy; measuring anyway"
    return 1
}

# Daemons that a measured command can leave behind, outside its process tree, doing work on its
# behalf (gpg and gpgme start a gpg-agent that detaches). GNU time cannot see their CPU.
# Only daemons whose command line names LB_DAEMON_HOME (the benchmark's own GNUPGHOME) are
# considered: other users' agents on the machine are never counted nor touched.
LB_DAEMON_NAMES=${LB_DAEMON_NAMES:-gpg-agent scdaemon keyboxd dirmngr}
LB_DAEMON_HOME=${LB_DAEMON_HOME:-}
daemon_pids() {
    local p comm n cmdline
    [[ -n $LB_DAEMON_HOME ]] || return 0
    for p in /proc/[0-9]*; do
        comm=$(<"$p/comm") 2>/dev/null || continue
        for n in $LB_DAEMON_NAMES; do
            if [[ $comm == "$n" ]]; then
                cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
                if [[ $cmdline == *"$LB_DAEMON_HOME"* ]]; then echo "${p#/proc/}"; fi
            fi
        done
    done
    return 0
}
# proc_cpu_ticks PID: utime+stime+cutime+cstime of a live process (0 if gone).
proc_cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat") 2>/dev/null || { echo 0; return; }
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} + ${14} + ${15} ))
}

# --- caches ----------------------------------------------------------------------------------
drop_caches() {
    sync
    if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        return 0
    fi
    lb_log "note: cannot drop the page cache (not permitted): runs are not cold"
    return 1
}

# --- measurement -----------------------------------------------------------------------------
# measure NAME CMD...
#   Runs CMD (argv, not a string; wrap pipelines in `bash -c`) under GNU time. CMD's output goes
#   to $LOG_DIR/NAME.log. Appends one TSV row to $RESULTS_TSV:
#     name status wall_s cpu_s user_s sys_s maxrss_kib own_hwm_kib server_cpu_s stored_bytes machine_cpu_s daemon_cpu_s
#   maxrss_kib is GNU time's %M: ru_maxrss of the child and its waited-for descendants, i.e. the
#   peak RSS of the LARGEST single process of the tree, not a sum.
#   Environment knobs:
#     MEASURE_SAMPLE_HWM=1   also sample VmHWM of time's direct child (the measured program itself)
#                            from /proc every 50 ms -> own_hwm_kib (a lower bound: the last 50 ms
#                            before exit can be missed)
#     MEASURE_STORED="P..."  after the run, stored_bytes = du -sb of these paths
#   daemon_cpu_s is the CPU of daemons (gpg-agent...) that CMD started and left running: measure
#   counts it and then ends them (by pid; only those born during the run whose command line names
#   LB_DAEMON_HOME, see daemon_pids).
#   server_cpu_s is the CPU the PostgreSQL server spent meanwhile (see server_cpu_ticks);
#   machine_cpu_s the busy CPU of the whole machine meanwhile: if it is well above cpu_s +
#   server_cpu_s, something else was running and the figures are suspect.
#   Sets M_STATUS M_WALL M_CPU M_USER M_SYS M_MAXRSS M_HWM M_SRVCPU M_STORED. Returns CMD's status.
measure() {
    local name=$1
    shift
    local tf log rc=0 n0 d0 d dticks=0 t0 t1 b0 b1 tpid cpid hwm=0 k v _
    : "${RESULTS_TSV:?}" "${LOG_DIR:?}"
    mkdir -p "$LOG_DIR"
    tf=$(mktemp)
    log=$LOG_DIR/$name.log
    n0=$(server_children)
    d0=" $(daemon_pids | tr '\n' ' ')"
    t0=$(server_cpu_ticks)
    b0=$(machine_busy_ticks)
    lb_log "measure $name: $*"
    # In the background, so that a signal to this script runs its trap at once (bash defers traps
    # while a foreground command runs, and GNU time ignores SIGINT); the trap ends the tree.
    # Not through without_lock: $! must be GNU time itself (its child is the measured program).
    if [[ -n $LB_PGLOCK_FD ]]; then
        "$GNU_TIME" -o "$tf" -f '%e %U %S %M' -- "$@" >"$log" 2>&1 {LB_PGLOCK_FD}>&- &
    else
        "$GNU_TIME" -o "$tf" -f '%e %U %S %M' -- "$@" >"$log" 2>&1 &
    fi
    tpid=$!
    LB_MEASURE_PID=$tpid
    if [[ ${MEASURE_SAMPLE_HWM:-0} == 1 ]]; then
        cpid=""
        while [[ -z $cpid ]] && kill -0 "$tpid" 2>/dev/null; do
            cpid=$(pgrep -P "$tpid" || true)
            [[ -n $cpid ]] || sleep 0.01
        done
        while [[ -n $cpid ]] && [[ -r /proc/$cpid/status ]]; do
            while read -r k v _; do
                if [[ $k == VmHWM: ]]; then
                    ((v > hwm)) && hwm=$v
                    break
                fi
            done <"/proc/$cpid/status" 2>/dev/null || true
            sleep 0.05
        done
    fi
    wait "$tpid" || rc=$?
    LB_MEASURE_PID=""
    server_backends_settle "$n0"
    t1=$(server_cpu_ticks)
    b1=$(machine_busy_ticks)
    # Daemons born during the run: count their CPU, then end them so the next run starts its own.
    for d in $(daemon_pids); do
        [[ $d0 == *" $d "* ]] && continue
        dticks=$((dticks + $(proc_cpu_ticks "$d")))
        lb_log "  $name left a daemon behind: pid $d ($(cat "/proc/$d/comm" 2>/dev/null)); counting its CPU and ending it"
        kill "$d" 2>/dev/null || true
    done
    # On a signal GNU time writes "Command terminated by signal N" first; the figures are last.
    M_WALL=- M_USER=0 M_SYS=0 M_MAXRSS=-
    read -r M_WALL M_USER M_SYS M_MAXRSS < <(tail -1 "$tf") || true
    rm -f "$tf"
    M_STATUS=$rc
    M_CPU=$(awk -v u="$M_USER" -v s="$M_SYS" 'BEGIN { printf "%.2f", u + s }')
    M_SRVCPU=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
    M_DAEMONCPU=$(awk -v d="$dticks" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
    M_MACHCPU=$(awk -v d=$((b1 - b0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
    M_HWM=-
    [[ ${MEASURE_SAMPLE_HWM:-0} == 1 ]] && M_HWM=$hwm
    M_STORED=-
    if [[ -n ${MEASURE_STORED:-} ]]; then
        # shellcheck disable=SC2086
        M_STORED=$(du -sbc $MEASURE_STORED 2>/dev/null | tail -1 | cut -f1)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$M_STATUS" "$M_WALL" "$M_CPU" \
        "$M_USER" "$M_SYS" "$M_MAXRSS" "$M_HWM" "$M_SRVCPU" "$M_STORED" "$M_MACHCPU" "$M_DAEMONCPU" >>"$RESULTS_TSV"
    lb_log "  $name: status=$M_STATUS wall=${M_WALL}s cpu=${M_CPU}s maxrss=${M_MAXRSS}KiB own_hwm=${M_HWM} server_cpu=${M_SRVCPU}s machine_cpu=${M_MACHCPU}s daemon_cpu=${M_DAEMONCPU}s stored=${M_STORED}"
    if ((rc != 0)); then
        lb_log "  $name failed (status $rc); last lines of $log:"
        tail -15 "$log" >&2 || true
    fi
    return "$rc"
}

# shellcheck disable=SC2034  # used by the scripts that source this file
RESULTS_TSV_HEADER=$'name\tstatus\twall_s\tcpu_s\tuser_s\tsys_s\tmaxrss_kib\town_hwm_kib\tserver_cpu_s\tstored_bytes\tmachine_cpu_s\tdaemon_cpu_s'

# The setting both comparisons share: the benchmark passphrase, a private short-lived GNUPGHOME
# (its agent measured and ended with the run), and the benchmark cluster started.
bench_setup() {
    PASSPHRASE_FILE=$WORK_DIR/passphrase
    if [[ ! -s $PASSPHRASE_FILE ]]; then
        (umask 077 && echo "correct horse battery staple lifeboat bench" >"$PASSPHRASE_FILE")
    fi
    GNUPGHOME=$(mktemp -d /tmp/lbbench-gpg.XXXXXX)   # short: gpg-agent's socket path must fit in 107 bytes
    chmod 700 "$GNUPGHOME"
    export GNUPGHOME
    LB_DAEMON_HOME=$GNUPGHOME   # measure counts (and ends) gpg-agents started for this home only
    lb_on_exit 'gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1; rm -rf "$GNUPGHOME"'
    pg_cluster_start "$WORK_DIR/pgdata"
    export PGDATABASE=bench
    LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
}
