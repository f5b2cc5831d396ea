#!/usr/bin/env bash
# The heavy scenarios of issue 8, a separate command (too slow and too hungry for the test
# command, and nothing about throughput is asserted): a store that fails over, or moves slots,
# under load.
#
#   util/test-scale.sh sentinel   a master, two replicas, three redis-sentinels; the master killed
#   util/test-scale.sh cluster    a Redis Cluster, 3 masters + 3 replicas; a master killed
#   util/test-scale.sh reshard    the same Redis Cluster; slots moved between masters
#   util/test-scale.sh [all]      sentinel, cluster, then reshard (a mode whose directive the
#                                 module does not have is SKIPPED)
#
# For each mode, on free loopback ports: the store (redis-server / redis-sentinel /
# redis-cli --cluster, with down-after-milliseconds / cluster-node-timeout 1000), two nginx
# nodes with the module (Debian's nginx, master + 2 workers each, the same store, a
# `wxauth_metrics` location) and a third nginx serving the WeChat stand-in and the upstream.
# USERS users log in on node 1 (real logins through the stand-in, in a location with
# `wxauth_login_replicas 1`: each login answers only once a replica acknowledged its writes),
# and every token is checked on both nodes. Then wrk (util/test-scale-wrk.lua) sends protected
# requests with those tokens, CONNECTIONS connections split over both nodes.
#
# sentinel, cluster: for DURATION seconds; KILL_AFTER seconds in, a master is killed (kill -9)
# and the script watches for the promotion. It fails unless:
#   - every non-2xx answer was 503 with "error":"store_unavailable" (a session lost in the
#     failover would be a 401), none came before the kill;
#   - the last error came at most 2 s after the promotion (the window is printed), and the load
#     went on for at least 3 s after the promotion (else DURATION is too short).
# reshard: RESHARD_AFTER seconds into the load, `redis-cli --cluster reshard` moves
# RESHARD_SLOTS slots from the first master to the second, then as many from the third to the
# first, each once the cluster agrees on its slot map again; the load goes on until DURATION
# seconds and at least 2 s after the last reshard (wrk is stopped then, SIGINT). It fails
# unless:
#   - every answer was 2xx (MOVED and ASK followed, no 503, no 401);
#   - some of the USERS sessions live in the moved slots (CLUSTER KEYSLOT; the count is
#     printed), and each node followed at least one MOVED;
#   - both reshards succeeded and ran while the load ran.
# And in every mode:
#   - wrk saw no socket error (connect, read, write, timeout);
#   - every token still works on both nodes after the load;
#   - no nginx worker died: the workers' pids are those of before, and no node's error log says
#     "exited on signal" (nor [alert], [crit] or [emerg]).
# It prints the requests, the failover window or the slots moved, and each node's Redis
# metrics (redirects followed, slot-map reads, failovers followed).
#
# Environment: WXAUTH_SCALE_STORE_ONLY=1 (sentinel, cluster: only the store: stand it up, kill
# a master, report the promotion; no nginx, no load), DURATION (default 12), KILL_AFTER (3),
# RESHARD_AFTER (2), RESHARD_SLOTS (1000), CONNECTIONS (64), USERS (200),
# WXAUTH_SKIP_INSTALL=1 (no package check), WXAUTH_KEEP=1 (keep the scratch directory, for its
# logs). Needs wrk, redis-server, redis-sentinel, redis-cli (installed if missing).
#
# Adding a failover mode M: define store_up_M DIR (start the store, set STORE_PIDFILES),
# store_directive_M (the nginx directive naming it), store_kill_M (kill -9 one master, set
# KILLED), store_promoted_M (succeeds, printing the new master, once the store has replaced
# KILLED), store_promotion_time_M and store_describe_M (from the store's logs); and list M in
# MODES. A mode with another load sets its store in STORE_OF and its load in LOAD_OF.
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

MODES=(sentinel cluster reshard)
declare -A STORE_OF=([sentinel]=sentinel [cluster]=cluster [reshard]=cluster)
declare -A LOAD_OF=([sentinel]=failover [cluster]=failover [reshard]=reshard)
DURATION=${DURATION:-12}
KILL_AFTER=${KILL_AFTER:-3}
RESHARD_AFTER=${RESHARD_AFTER:-2}
RESHARD_SLOTS=${RESHARD_SLOTS:-1000}
RESHARD_TAIL=2     # seconds of load after the last reshard
RESHARD_GRACE=120  # wrk runs at most DURATION + this (it is stopped once the reshards are over)
CONNECTIONS=${CONNECTIONS:-64}
USERS=${USERS:-200}
WINDOW_LIMIT=2   # seconds after the promotion (issue 8)

usage() { sed -n '2,10p' "$0" >&2; exit 2; }
want=${1:-all}
case $want in
    sentinel|cluster|reshard) run_modes=("$want") ;;
    all) run_modes=("${MODES[@]}") ;;
    *) usage ;;
esac

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing wrk redis-sentinel
for tool in wrk redis-server redis-sentinel redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "test-scale: $tool is missing" >&2; exit 1; }
done
wxauth_build >/dev/null
module=$WXAUTH_BUILD/ngx_http_wxauth_module.so

scratch=$(mktemp -d /tmp/wxauth-scale.XXXXXX)
chmod 755 "$scratch"
STORE_PIDFILES=()
WRK_PIDS=()
cleanup() {
    set +e
    trap '' INT TERM
    local p
    for p in "${WRK_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stop_nginx_all
    stop_store
    if [ "${WXAUTH_KEEP:-0}" = 1 ]; then
        echo "test-scale: kept $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
# stop_pidfiles FILE...: TERM to every process named, then KILL to those still there after 5 s
# (all at once: a daemon's exit is seen only once init reaps it, about a second here)
stop_pidfiles() {
    local f pid pids=() alive
    for f in "$@"; do
        [ -s "$f" ] && pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && pids+=("$pid")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
}
stop_store() { stop_pidfiles "${STORE_PIDFILES[@]}"; STORE_PIDFILES=(); }
stop_nginx_all() { stop_pidfiles "$scratch"/nginx-*/nginx.pid; }
fail() { echo "test-scale: FAIL: $*" >&2; FAILED=1; }
rcli() { redis-cli -h 127.0.0.1 -p "$@"; }

# start_redis DIR PORT [ARGS...]: a daemonized redis-server, its pidfile in STORE_PIDFILES
start_redis() {
    local dir=$1 port=$2
    shift 2
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid" "$@"
    STORE_PIDFILES+=("$dir/redis.pid")
    for _ in $(seq 1 100); do
        rcli "$port" ping >/dev/null 2>&1 && [ -s "$dir/redis.pid" ] && return 0
        sleep 0.05
    done
    echo "test-scale: redis-server on $port did not start (see $dir/redis.log)" >&2
    return 1
}

# the time of a redis log line ("pid:R 02 Dec 2026 01:28:06.123 * ..."), seconds since the epoch
log_time() {
    local stamp
    stamp=$(sed -n 's/^[0-9]*:[A-Z] \([0-9]\{1,2\} [A-Z][a-z]\{2\} [0-9]\{4\} [0-9:.]*\) .*/\1/p' <<<"$1")
    [ -n "$stamp" ] && date -d "$stamp" +%s.%N
}

# first_event_after T PATTERN FILE...: the time of the first log line matching PATTERN (fixed
# string) at or after T
first_event_after() {
    local after=$1 what=$2 line t
    shift 2
    while IFS= read -r line; do
        t=$(log_time "$line") || continue
        awk -v t="$t" -v a="$after" 'BEGIN { exit !(t >= a - 0.002) }' && { echo "$t"; return 0; }
    done < <(grep -h -F -- "$what" "$@" | sort -k2)
    return 1
}

# waits until every replica of each master is online and has every write its master took so
# far (replication offsets): the cluster's readiness
wait_replicated() {   # MASTER_PORT...
    local m info off ok line
    for m in "$@"; do
        for _ in $(seq 1 200); do
            info=$(rcli "$m" info replication | tr -d '\r')
            off=$(sed -n 's/^master_repl_offset://p' <<<"$info")
            ok=1
            # slaveN:ip=...,port=...,state=online,offset=X,lag=0
            while IFS= read -r line; do
                [[ $line == slave[0-9]*:* ]] || continue
                [[ $line == *state=online* && $line == *",offset=$off,"* ]] || ok=0
            done <<<"$info"
            grep -q '^connected_slaves:[1-9]' <<<"$info" || ok=0
            [ "$ok" = 1 ] && break
            sleep 0.05
        done
        [ "$ok" = 1 ] || { echo "test-scale: the replicas of $m did not catch up" >&2; return 1; }
    done
}

#---------------------------------------------------------------------------------------------
# sentinel: a master, two replicas, three sentinels (quorum 2)

SENTINEL_NAME=wxscale
store_up_sentinel() {
    local dir=$1 p s n
    read -r SM SR1 SR2 SS1 SS2 SS3 < <(wxauth_free_ports 6)
    start_redis "$dir/master" "$SM"
    start_redis "$dir/replica1" "$SR1" --replicaof 127.0.0.1 "$SM"
    start_redis "$dir/replica2" "$SR2" --replicaof 127.0.0.1 "$SM"
    for p in "$SS1" "$SS2" "$SS3"; do
        mkdir -p "$dir/sentinel-$p"
        cat >"$dir/sentinel-$p/sentinel.conf" <<EOF
port $p
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel-$p/sentinel.pid
dir $dir/sentinel-$p
logfile $dir/sentinel-$p/sentinel.log
sentinel monitor $SENTINEL_NAME 127.0.0.1 $SM 2
sentinel down-after-milliseconds $SENTINEL_NAME 1000
sentinel failover-timeout $SENTINEL_NAME 5000
sentinel parallel-syncs $SENTINEL_NAME 1
EOF
        redis-sentinel "$dir/sentinel-$p/sentinel.conf"
        STORE_PIDFILES+=("$dir/sentinel-$p/sentinel.pid")
    done
    # ready: every sentinel sees the master, 2 replicas and 2 other sentinels; replicas in sync
    for _ in $(seq 1 300); do
        n=0
        for s in "$SS1" "$SS2" "$SS3"; do
            [ "$(rcli "$s" sentinel get-master-addr-by-name "$SENTINEL_NAME" 2>/dev/null \
                 | sed -n 2p)" = "$SM" ] || continue
            [ "$(rcli "$s" sentinel replicas "$SENTINEL_NAME" 2>/dev/null \
                 | grep -c '^name$')" = 2 ] || continue
            [ "$(rcli "$s" sentinel sentinels "$SENTINEL_NAME" 2>/dev/null \
                 | grep -c '^name$')" = 2 ] || continue
            n=$((n + 1))
        done
        if [ "$n" = 3 ] && rcli "$SR1" info replication | grep -q master_link_status:up \
                        && rcli "$SR2" info replication | grep -q master_link_status:up; then
            return 0
        fi
        sleep 0.1
    done
    echo "test-scale: the sentinels were not ready within 30 s (logs in $dir)" >&2
    return 1
}
store_directive_sentinel() {
    echo "wxauth_redis_sentinel $SENTINEL_NAME 127.0.0.1:$SS1 127.0.0.1:$SS2 127.0.0.1:$SS3;"
}
store_kill_sentinel() {
    kill -9 "$(cat "$scratch/store/master/redis.pid")"
    KILLED=$SM
}
# the time (seconds since the epoch) the sentinels switched to the new master: the earliest
# +switch-master line of their logs ("pid:X 02 Dec 2026 01:28:06.123 # +switch-master ...")
store_promotion_time_sentinel() {
    first_event_after "$T_KILL" ' +switch-master ' "$scratch"/store/sentinel-*/sentinel.log
}
# what the sentinels did, relative to the kill (printed)
store_describe_sentinel() {   # T_KILL
    local what t
    for what in ' +odown ' ' +selected-slave ' ' +failover-state-send-slaveof-noone ' \
                ' +promoted-slave ' ' +switch-master '; do
        t=$(first_event_after "$1" "$what" "$scratch"/store/sentinel-*/sentinel.log) || continue
        awk -v w="$what" -v t="$t" -v k="$1" 'BEGIN { printf "%s%.2f s after the kill;", w, t - k }'
    done
    echo
}
store_promoted_sentinel() {
    local s port
    for s in "$SS1" "$SS2" "$SS3"; do
        port=$(rcli "$s" sentinel get-master-addr-by-name "$SENTINEL_NAME" 2>/dev/null | sed -n 2p)
        if [ -n "$port" ] && [ "$port" != "$KILLED" ]; then
            echo "127.0.0.1:$port"
            return 0
        fi
    done
    return 1
}

#---------------------------------------------------------------------------------------------
# cluster: 3 masters, 3 replicas (redis-cli --cluster create ... --cluster-replicas 1)

store_up_cluster() {
    local dir=$1 p ok info
    read -r -a CP < <(wxauth_free_ports 6)
    for p in "${CP[@]}"; do
        start_redis "$dir/node-$p" "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-node-timeout 1000
    done
    local addrs=()
    for p in "${CP[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 \
        --cluster-yes >"$dir/create.log" 2>&1 \
        || { cat "$dir/create.log" >&2; return 1; }
    for _ in $(seq 1 300); do
        ok=1
        for p in "${CP[@]}"; do
            info=$(rcli "$p" cluster info 2>/dev/null | tr -d '\r')
            grep -q '^cluster_state:ok$' <<<"$info" || ok=0
            grep -q "^cluster_known_nodes:${#CP[@]}$" <<<"$info" || ok=0
        done
        if [ "$ok" = 1 ]; then
            cluster_masters
            wait_replicated "${CMASTERS[@]}" && return 0
        fi
        sleep 0.1
    done
    echo "test-scale: the cluster was not ready within 30 s (logs in $dir)" >&2
    return 1
}
cluster_masters() {   # sets CMASTERS: ports of the masters that are up, as the cluster sees them
    local p
    CMASTERS=()
    for p in "${CP[@]}"; do
        [ "$p" = "${KILLED:-}" ] && continue
        rcli "$p" role 2>/dev/null | head -1 | grep -qx master && CMASTERS+=("$p")
    done
}
store_directive_cluster() {
    echo "wxauth_redis_cluster $(printf '127.0.0.1:%s ' "${CP[@]}");"
}
store_kill_cluster() {
    cluster_masters
    KILLED=${CMASTERS[0]}
    kill -9 "$(cat "$scratch/store/node-$KILLED/redis.pid")"
}
# the time the replica of KILLED took over: its "Failover election won" log line
store_promotion_time_cluster() {
    first_event_after "$T_KILL" 'Failover election won' "$scratch"/store/node-*/redis.log
}
store_describe_cluster() {   # T_KILL
    local what t
    for what in 'FAIL message received' 'Cluster state changed: fail' 'Start of election' \
                'Failover election won' 'Cluster state changed: ok'; do
        t=$(first_event_after "$1" "$what" "$scratch"/store/node-*/redis.log) || continue
        awk -v w="$what" -v t="$t" -v k="$1" 'BEGIN { printf "\"%s\" %.2f s after the kill; ", w, t - k }'
    done
    echo
}
store_promoted_cluster() {
    # a node that is up: cluster_state:ok, KILLED flagged fail, and 3 masters not failed that
    # serve slots (a replica of KILLED took its slots over)
    local p nodes
    for p in "${CP[@]}"; do
        [ "$p" = "$KILLED" ] && continue
        rcli "$p" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$' || return 1
        nodes=$(rcli "$p" cluster nodes 2>/dev/null | tr -d '\r') || return 1
        awk -v k=":$KILLED@" 'index($2, k) && $3 ~ /fail/ { f = 1 } END { exit !f }' \
            <<<"$nodes" || return 1
        [ "$(awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9' <<<"$nodes" | wc -l)" = 3 ] \
            || return 1
        awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 { split($2, a, "@"); m = m " " a[1] }
             END { print "masters" m }' <<<"$nodes"
        return 0
    done
    return 1
}

# the module must know the mode's directive (cluster: not before it has wxauth_redis_cluster)
mode_supported() {   # MODE DIRECTIVE
    local dir=$scratch/conftest-$1
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
load_module $module;
error_log $dir/error.log;
pid $dir/nginx.pid;
events {}
http { $2 server { listen 127.0.0.1:1; location / { wxauth on; } } }
EOF
    /usr/sbin/nginx -t -p "$dir/" -c "$dir/nginx.conf" >"$dir/out" 2>&1 \
        || ! grep -q 'unknown directive' "$dir/out"
}

#---------------------------------------------------------------------------------------------
# nginx: the stand-ins (WeChat, upstream) and two nodes

start_nginx() {   # NAME (config in $scratch/nginx-NAME/nginx.conf)
    local d=$scratch/nginx-$1
    /usr/sbin/nginx -p "$d/" -c "$d/nginx.conf" 2>"$d/stderr" \
        || { cat "$d/stderr" "$d/error.log" >&2 2>/dev/null; return 1; }
    for _ in $(seq 1 100); do [ -s "$d/nginx.pid" ] && return 0; sleep 0.05; done
    echo "test-scale: nginx $1 did not start" >&2
    return 1
}

nginx_main() {   # DIR WORKERS
    cat <<EOF
load_module $module;
daemon on;
master_process on;
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log info;
events { worker_connections 4096; }
EOF
}

worker_pids() {   # NAME -> the workers' pids, sorted, on one line
    ps -o pid= --ppid "$(cat "$scratch/nginx-$1/nginx.pid")" | sort -n | tr -s ' \n' ' '
}

report_value() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# WXAUTH_SCALE_STORE_ONLY=1: the store's own failover, without nginx or load (to try a mode's
# store_* functions)
store_failover_only() {   # MODE
    local mode=$1 t_kill t_promoted new t_logged
    t_kill=$(now)
    T_KILL=$t_kill
    "store_kill_$mode"
    for _ in $(seq 1 1500); do
        new=$("store_promoted_$mode") && break
        new=
        sleep 0.02
    done
    [ -n "$new" ] || { fail "[$mode] no promotion within 30 s of the kill"; return 1; }
    t_promoted=$(now)
    t_logged=$("store_promotion_time_$mode") || t_logged=
    printf '[%s] store only: killed %s; promotion seen %.2f s after the kill (%s), logged %s s after it\n' \
        "$mode" "$KILLED" "$(awk -v a="$t_promoted" -v b="$t_kill" 'BEGIN { print a - b }')" "$new" \
        "$( [ -n "$t_logged" ] && awk -v a="$t_logged" -v b="$t_kill" 'BEGIN { printf "%.2f", a - b }' || echo '?')"
    printf '[%s] the store: %s\n' "$mode" "$("store_describe_$mode" "$t_kill")"
}

#---------------------------------------------------------------------------------------------
# reshard: slots moved between the masters of the cluster under load

# cluster_owners PORT: "SLOT PORT-OF-ITS-MASTER" for every slot served, as the node at PORT
# sees it (CLUSTER NODES; slots being imported or migrated, "[...]", are not served elsewhere
# yet)
cluster_owners() {
    rcli "$1" cluster nodes 2>/dev/null | tr -d '\r' | awk '
        $3 ~ /master/ && $3 !~ /fail/ {
            split($2, a, "@"); n = split(a[1], hp, ":"); port = hp[n]
            for (i = 9; i <= NF; i++) {
                if ($i ~ /^\[/) continue
                if (split($i, r, "-") == 2) { for (s = r[1]; s <= r[2]; s++) print s, port }
                else print $i, port
            }
        }' | sort -n
}

# cluster_view PORT: the masters and their slot ranges as the node at PORT sees them, one
# master a line, sorted (no open slot may show: "[...]" entries are kept)
cluster_view() {
    rcli "$1" cluster nodes 2>/dev/null | tr -d '\r' | awk '
        $3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {
            split($2, a, "@"); line = a[1]
            for (i = 9; i <= NF; i++) line = line " " $i
            print line
        }' | sort
}

# cluster_settled: every node says cluster_state:ok, no slot is open (importing, migrating),
# all see the same masters with the same slots, and these cover the 16384 slots
cluster_settled() {
    local p view first=
    for p in "${CP[@]}"; do
        rcli "$p" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$' || return 1
        view=$(cluster_view "$p")
        [[ $view != *'['* ]] || return 1
        [ -n "$first" ] || first=$view
        [ "$view" = "$first" ] || return 1
    done
    [ "$(awk '{ for (i = 2; i <= NF; i++) { n = split($i, r, "-"); c += n == 2 ? r[2] - r[1] + 1 : 1 } }
              END { print c + 0 }' <<<"$first")" = 16384 ]
}

wait_cluster_settled() {   # SECONDS
    local end
    end=$(awk -v t="$(now)" -v s="$1" 'BEGIN { printf "%.3f", t + s }')
    while awk -v t="$(now)" -v e="$end" 'BEGIN { exit !(t < e) }'; do
        cluster_settled && return 0
        sleep 0.05
    done
    echo "test-scale: the cluster did not agree on its slot map within $1 s" >&2
    return 1
}

# reshard FROM_PORT TO_PORT LOG: redis-cli --cluster reshard of RESHARD_SLOTS slots
reshard() {
    local from to
    from=$(rcli "$1" cluster myid | tr -d '\r')
    to=$(rcli "$2" cluster myid | tr -d '\r')
    echo "reshard $RESHARD_SLOTS slots from 127.0.0.1:$1 ($from) to 127.0.0.1:$2 ($to)" >"$3"
    redis-cli --cluster reshard "127.0.0.1:$1" --cluster-from "$from" --cluster-to "$to" \
        --cluster-slots "$RESHARD_SLOTS" --cluster-yes >>"$3" 2>&1
}

# the slot of each session of tokens.txt (the module's key: <prefix>s:<sha256 hex of the
# token>), one a line, as the cluster computes it (CLUSTER KEYSLOT)
session_slots() {   # PORT TOKENS
    perl -MDigest::SHA=sha256_hex -ne 'chomp; print "CLUSTER KEYSLOT wxscale:s:", sha256_hex($_), "\n" if length' "$2" \
        | rcli "$1" | tr -d '\r'
}

#---------------------------------------------------------------------------------------------
# the loads: each starts wrk (start_wrk) on both nodes and waits for it; wrk's reports are
# read by read_reports

start_wrk() {   # SECONDS
    local n p
    WRK_PIDS=()
    for n in 1 2; do
        p=$node1_port; [ "$n" = 2 ] && p=$node2_port
        WXAUTH_TOKENS=$scratch/tokens.txt WXAUTH_REPORT=$scratch/report-$n.txt \
            wrk -t1 -c"$((CONNECTIONS / 2))" -d"${1}s" --timeout 2s -s util/test-scale-wrk.lua \
            "http://127.0.0.1:$p/api/scale" >"$scratch/wrk-$n.out" 2>&1 &
        WRK_PIDS+=($!)
    done
}

wait_wrk() {
    local p
    for p in "${WRK_PIDS[@]}"; do wait "$p" || fail "[$mode] wrk failed (see $scratch/wrk-*.out)"; done
    WRK_PIDS=()
}

# read_reports MODE ALLOWED: sums the reports of both wrk; fails on a socket error and on an
# error answer other than ALLOWED ("503 store_unavailable", or "" for none). Sets REQUESTS,
# ERRORS_OK, ERRORS_OTHER, SOCK, FE / LE (first / last error), FR / LR (first / last response
# of both, the first of the later-starting one: when both were loaded)
read_reports() {
    local mode=$1 allowed=$2 n r key a b c v
    REQUESTS=0 ERRORS_OK=0 ERRORS_OTHER=0 SOCK=0 FE=0 LE=0 FR=0 LR=0
    for n in 1 2; do
        r=$scratch/report-$n.txt
        [ -s "$r" ] || { fail "[$mode] wrk wrote no report ($r)"; cat "$scratch/wrk-$n.out" >&2; return 1; }
        REQUESTS=$((REQUESTS + $(report_value "$r" requests)))
        while read -r key a b c; do
            case $key in
                error)
                    if [ -n "$allowed" ] && [ "$a $b" = "$allowed" ]; then
                        ERRORS_OK=$((ERRORS_OK + c))
                    else
                        ERRORS_OTHER=$((ERRORS_OTHER + c))
                        fail "[$mode] node $n: $c answers $a \"$b\""
                    fi ;;
                socket)
                    SOCK=$((SOCK + b))
                    [ "$b" = 0 ] || fail "[$mode] node $n: wrk saw $b socket $a errors" ;;
            esac
        done <"$r"
        v=$(report_value "$r" first_error)
        if awk -v v="$v" -v fe="$FE" 'BEGIN { exit !(v > 0 && (fe == 0 || v < fe)) }'; then FE=$v; fi
        v=$(report_value "$r" last_error)
        if awk -v v="$v" -v le="$LE" 'BEGIN { exit !(v > le) }'; then LE=$v; fi
        v=$(report_value "$r" first_response)
        if awk -v v="$v" -v fr="$FR" 'BEGIN { exit !(v > fr) }'; then FR=$v; fi
        v=$(report_value "$r" last_response)
        if awk -v v="$v" -v lr="$LR" 'BEGIN { exit !(v > lr) }'; then LR=$v; fi
    done
}

# a master killed under load (sentinel, cluster)
load_failover() {   # MODE
    local mode=$1 store=${STORE_OF[$1]}
    wxauth_log "[$mode] wrk: $CONNECTIONS connections over both nodes for $DURATION s; kill -9 of a master after $KILL_AFTER s"
    start_wrk "$DURATION"
    local t_start t_kill t_promoted new
    t_start=$(now)
    sleep "$KILL_AFTER"
    t_kill=$(now)
    T_KILL=$t_kill
    "store_kill_$store"
    new=
    for _ in $(seq 1 1500); do   # 30 s at most
        if new=$("store_promoted_$store"); then
            t_promoted=$(now)
            break
        fi
        new=
        sleep 0.02
    done
    wait_wrk
    [ -n "$new" ] || { fail "[$mode] no promotion within 30 s of the kill"; return 1; }
    # the promotion as the store logged it (polling under load sees it late); the time it was
    # seen when the log has no such line
    local t_seen=$t_promoted t_logged
    if t_logged=$("store_promotion_time_$store") && [ -n "$t_logged" ]; then
        t_promoted=$t_logged
    else
        echo "test-scale: [$mode] no promotion time in the store's logs: the time it was seen" >&2
    fi

    read_reports "$mode" "503 store_unavailable" || return 1

    local t_kill_rel t_prom_rel window after
    t_kill_rel=$(awk -v a="$t_kill" -v b="$t_start" 'BEGIN { printf "%.2f", a - b }')
    t_prom_rel=$(awk -v a="$t_promoted" -v b="$t_kill" 'BEGIN { printf "%.2f", a - b }')
    after=$(awk -v a="$LR" -v b="$t_promoted" 'BEGIN { printf "%.2f", a - b }')
    if [ "$ERRORS_OK" -gt 0 ] || [ "$ERRORS_OTHER" -gt 0 ]; then
        window=$(awk -v a="$LE" -v b="$t_promoted" 'BEGIN { printf "%.0f", (a - b) * 1000 }')
        awk -v fe="$FE" -v k="$t_kill" 'BEGIN { exit !(fe < k) }' \
            && fail "[$mode] errors before the kill (first $(awk -v a="$FE" -v b="$t_kill" 'BEGIN { printf "%.2f", b - a }') s before it)"
    else
        window=0
    fi
    awk -v w="$window" -v l="$WINDOW_LIMIT" 'BEGIN { exit !(w > l * 1000) }' \
        && fail "[$mode] the last error came $window ms after the promotion (more than $WINDOW_LIMIT s)"
    awk -v a="$after" 'BEGIN { exit !(a < 3) }' \
        && fail "[$mode] the load ended $after s after the promotion: raise DURATION"

    printf '[%s] %d requests (%d connections, %s s); master killed at %s s, promotion %s s after the kill (%s; seen by polling %s s after it)\n' \
        "$mode" "$REQUESTS" "$CONNECTIONS" "$DURATION" "$t_kill_rel" "$t_prom_rel" "$new" \
        "$(awk -v a="$t_seen" -v b="$t_promoted" 'BEGIN { printf "%.2f", a - b }')"
    printf '[%s] the store: %s\n' "$mode" "$("store_describe_$store" "$t_kill")"
    printf '[%s] %d answers 503 store_unavailable, %d other errors, %d socket errors; last error %s ms after the promotion (limit %d s; negative: before it); load went on %s s after it\n' \
        "$mode" "$ERRORS_OK" "$ERRORS_OTHER" "$SOCK" "$window" "$WINDOW_LIMIT" "$after"
}

# slots moved between masters under load (reshard)
load_reshard() {
    local mode=reshard m1 m2 m3 p
    cluster_masters
    [ "${#CMASTERS[@]}" = 3 ] || { fail "[$mode] ${#CMASTERS[@]} masters, not 3"; return 1; }
    m1=${CMASTERS[0]} m2=${CMASTERS[1]} m3=${CMASTERS[2]}
    wait_cluster_settled 30 || return 1
    cluster_owners "$m1" >"$scratch/owners-0.txt"
    session_slots "$m1" "$scratch/tokens.txt" >"$scratch/session-slots.txt"
    [ "$(grep -c '^[0-9][0-9]*$' "$scratch/session-slots.txt")" = "$USERS" ] \
        || { fail "[$mode] CLUSTER KEYSLOT did not answer for every session"; return 1; }

    wxauth_log "[$mode] wrk: $CONNECTIONS connections over both nodes for at least $DURATION s; after $RESHARD_AFTER s, $RESHARD_SLOTS slots 127.0.0.1:$m1 -> $m2, then $m3 -> $m1"
    local t_start t_r1 t_r1_end t_settled t_r2 t_r2_end ok=1
    start_wrk $((DURATION + RESHARD_GRACE))
    t_start=$(now)
    sleep "$RESHARD_AFTER"
    t_r1=$(now)
    reshard "$m1" "$m2" "$scratch/reshard-1.log" \
        || { fail "[$mode] the first reshard failed:"; cat "$scratch/reshard-1.log" >&2; ok=0; }
    t_r1_end=$(now)
    if [ "$ok" = 1 ]; then
        wait_cluster_settled 30 || { fail "[$mode] after the first reshard"; ok=0; }
    fi
    t_settled=$(now)
    cluster_owners "$m1" >"$scratch/owners-1.txt"
    if [ "$ok" = 1 ]; then
        t_r2=$(now)
        reshard "$m3" "$m1" "$scratch/reshard-2.log" \
            || { fail "[$mode] the second reshard failed:"; cat "$scratch/reshard-2.log" >&2; ok=0; }
        t_r2_end=$(now)
        [ "$ok" = 1 ] && { wait_cluster_settled 30 || { fail "[$mode] after the second reshard"; ok=0; }; }
    else
        t_r2=$t_r1_end t_r2_end=$t_r1_end
    fi
    cluster_owners "$m1" >"$scratch/owners-2.txt"
    # the load goes on for DURATION s in all, and at least RESHARD_TAIL s after the reshards
    local rest
    rest=$(awk -v s="$t_start" -v e="$(now)" -v d="$DURATION" -v t="$RESHARD_TAIL" \
        'BEGIN { r = s + d - e; if (r < t) r = t; printf "%.2f", r }')
    sleep "$rest"
    for p in "${WRK_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    wait_wrk

    read_reports "$mode" "" || return 1

    # the slots that changed owner, in either reshard; the sessions living in them
    local moved1 moved2 moved sessions_moved
    awk 'NR == FNR { o[$1] = $2; next } o[$1] != $2 { print $1 }' \
        "$scratch/owners-0.txt" "$scratch/owners-1.txt" >"$scratch/moved-1.txt"
    awk 'NR == FNR { o[$1] = $2; next } o[$1] != $2 { print $1 }' \
        "$scratch/owners-1.txt" "$scratch/owners-2.txt" >"$scratch/moved-2.txt"
    sort -n -u "$scratch/moved-1.txt" "$scratch/moved-2.txt" >"$scratch/moved.txt"
    moved1=$(wc -l <"$scratch/moved-1.txt")
    moved2=$(wc -l <"$scratch/moved-2.txt")
    moved=$(wc -l <"$scratch/moved.txt")
    sessions_moved=$(awk 'NR == FNR { m[$1] = 1; next } $1 in m' \
        "$scratch/moved.txt" "$scratch/session-slots.txt" | wc -l)
    [ "$ok" = 0 ] || [ "$moved1" = "$RESHARD_SLOTS" ] \
        || fail "[$mode] the first reshard moved $moved1 slots, not $RESHARD_SLOTS"
    [ "$ok" = 0 ] || [ "$moved2" = "$RESHARD_SLOTS" ] \
        || fail "[$mode] the second reshard moved $moved2 slots, not $RESHARD_SLOTS"
    [ "$sessions_moved" -gt 0 ] \
        || fail "[$mode] none of the $USERS sessions lives in the $moved moved slots"

    # the reshards ran while both wrk ran
    awk -v r="$t_r1" -v fr="$FR" 'BEGIN { exit !(r < fr) }' \
        && fail "[$mode] the first reshard started before the load"
    awk -v r="$t_r2_end" -v lr="$LR" 'BEGIN { exit !(r > lr) }' \
        && fail "[$mode] the reshards ended after the load"

    local rel='BEGIN { printf "%.2f", a - b }'
    printf '[%s] %d requests (%d connections, %s s), %d errors, %d socket errors\n' \
        "$mode" "$REQUESTS" "$CONNECTIONS" "$(awk -v a="$LR" -v b="$t_start" "$rel")" \
        "$ERRORS_OTHER" "$SOCK"
    printf '[%s] reshard 1: %d slots 127.0.0.1:%s -> %s, %s-%s s into the load; the nodes agreed %s s later; reshard 2: %d slots %s -> %s, %s-%s s\n' \
        "$mode" "$moved1" "$m1" "$m2" "$(awk -v a="$t_r1" -v b="$t_start" "$rel")" \
        "$(awk -v a="$t_r1_end" -v b="$t_start" "$rel")" \
        "$(awk -v a="$t_settled" -v b="$t_r1_end" "$rel")" "$moved2" "$m3" "$m1" \
        "$(awk -v a="$t_r2" -v b="$t_start" "$rel")" "$(awk -v a="$t_r2_end" -v b="$t_start" "$rel")"
    printf '[%s] %d of the %d sessions live in the %d moved slots (CLUSTER KEYSLOT)\n' \
        "$mode" "$sessions_moved" "$USERS" "$moved"
    local n metrics
    for n in 1 2; do
        p=$node1_port; [ "$n" = 2 ] && p=$node2_port
        metrics=$(curl -s "http://127.0.0.1:$p/metrics")
        [ "$(metric_value "$metrics" 'wxauth_redis_redirects_total{kind="moved"}')" -gt 0 ] \
            || fail "[$mode] node $n followed no MOVED"
    done
    return 0
}

# metric_value SCRAPE NAME: the value of the sample NAME (0 when absent)
metric_value() {
    awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' <<<"$1"
}

print_metrics() {   # MODE
    local n p m
    for n in 1 2; do
        p=$node1_port; [ "$n" = 2 ] && p=$node2_port
        m=$(curl -s "http://127.0.0.1:$p/metrics")
        printf '[%s] node %d metrics: redirects moved %s, ask %s; slot-map refreshes %s; failovers %s; session checks store_unavailable %s\n' \
            "$1" "$n" \
            "$(metric_value "$m" 'wxauth_redis_redirects_total{kind="moved"}')" \
            "$(metric_value "$m" 'wxauth_redis_redirects_total{kind="ask"}')" \
            "$(metric_value "$m" wxauth_redis_slot_map_refreshes_total)" \
            "$(metric_value "$m" wxauth_redis_failovers_total)" \
            "$(metric_value "$m" 'wxauth_session_checks_total{outcome="store_unavailable"}')"
    done
}

# every token answers 200 on both nodes
tokens_served() {   # WHEN
    perl -I t/lib -MWxAuthTest -e '
        my ($when, $tokens, @ports) = @ARGV;
        open my $in, "<", $tokens or die "$tokens: $!\n";
        chomp(my @tokens = <$in>);
        my %bad;
        for my $port (@ports) {
            for my $t (@tokens) {
                my ($st, undef, $body) = eval {
                    WxAuthTest::http_request($port, "GET /api/check", { "X-WX-Session" => $t })
                };
                next if ($st // "") eq "200";
                my ($code) = ($body // "") =~ /"error":"([^"]*)"/;
                $bad{"127.0.0.1:$port " . ($st // "no answer") . " " . ($code // "-")}++;
            }
        }
        print STDERR "test-scale: $when: $bad{$_} tokens answer $_\n" for sort keys %bad;
        exit(%bad ? 1 : 0);' "$1" "$scratch/tokens.txt" "$node1_port" "$node2_port"
}

run_mode() {
    local mode=$1 store=${STORE_OF[$1]} dir=$scratch/store p n
    rm -rf "$dir" "$scratch"/nginx-* "$scratch"/report-*.txt
    STORE_PIDFILES=()
    KILLED=

    wxauth_log "[$mode] the store ($store)"
    "store_up_$store" "$dir" || return 1
    local directive
    if [ "${WXAUTH_SCALE_STORE_ONLY:-0}" = 1 ]; then
        [ "${LOAD_OF[$mode]}" = failover ] || { echo "test-scale: [$mode] no store-only run" >&2; return 0; }
        store_failover_only "$store"
        return
    fi
    directive=$("store_directive_$store")
    if ! mode_supported "$mode" "$directive"; then
        return 3
    fi

    read -r standin_port up_port node1_port node2_port < <(wxauth_free_ports 4)
    mkdir -p "$scratch/nginx-aux" "$scratch/nginx-node1" "$scratch/nginx-node2"
    {
        nginx_main "$scratch/nginx-aux" 1
        echo "http {"
        wxauth_nginx_temp_paths "$scratch/nginx-aux"
        wxauth_standin_server "$standin_port" off
        cat <<CONF
    server {
        listen 127.0.0.1:$up_port;
        access_log off;
        keepalive_requests 1000000;
        location / { default_type text/plain; return 200 "ok \$http_x_wx_openid\n"; }
    }
}
CONF
    } >"$scratch/nginx-aux/nginx.conf"
    for n in node1 node2; do
        p=$node1_port; [ "$n" = node2 ] && p=$node2_port
        {
            nginx_main "$scratch/nginx-$n" 2
            echo "http {"
            wxauth_nginx_temp_paths "$scratch/nginx-$n"
            cat <<CONF
    access_log off;
    keepalive_requests 1000000;
    $directive
    wxauth_redis_prefix "wxscale:";
    wxauth_appid wx0000000000scale;
    wxauth_secret scale-test-secret;
    wxauth_code2session /_wxauth/jscode2session;
    upstream app { server 127.0.0.1:$up_port; keepalive 32; }
    server {
        listen 127.0.0.1:$p;
        location /api/ {
            wxauth on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-Session "";
            proxy_pass http://app;
        }
        # a login answers once a replica has its writes: a failover right after it keeps it
        location = /login { wxauth_login; wxauth_login_replicas 1; }
        location = /metrics { wxauth_metrics; }
$(wxauth_standin_code2session_location "$standin_port")
    }
}
CONF
        } >"$scratch/nginx-$n/nginx.conf"
    done
    start_nginx aux || return 1
    start_nginx node1 || return 1
    start_nginx node2 || return 1

    # every worker of both nodes has found the store: many requests in a row answer 401
    # session_expired (a well-formed token nobody has) rather than 503
    local unknown=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA ok st
    for n in "$node1_port" "$node2_port"; do
        ok=0
        for _ in $(seq 1 300); do
            st=$(curl -s -o /dev/null -w '%{http_code}' -H "X-WX-Session: $unknown" \
                 "http://127.0.0.1:$n/api/ready")
            if [ "$st" = 401 ]; then ok=$((ok + 1)); else ok=0; fi
            [ "$ok" -ge 10 ] && break
            sleep 0.02
        done
        [ "$ok" -ge 10 ] || { echo "test-scale: node on $n does not reach the store" >&2; return 1; }
    done

    wxauth_log "[$mode] $USERS logins on node 1 (wxauth_login_replicas 1)"
    # one perl process for all of them (t/lib's HTTP client), not a curl per login
    perl -I t/lib -MWxAuthTest -e '
        my ($port, $users) = @ARGV;
        for my $i (1 .. $users) {
            my ($st, undef, $body) = WxAuthTest::http_request($port, "POST /login",
                { "Content-Type" => "application/x-www-form-urlencoded" }, "code=u$i");
            my ($token) = WxAuthTest::login_answer($body);
            die "test-scale: login u$i failed: " . ($st // "no answer") . " " . ($body // "") . "\n"
                unless $token;
            print "$token\n";
        }' "$node1_port" "$USERS" >"$scratch/tokens.txt" || return 1
    tokens_served "before the load" || { fail "[$mode] tokens refused before the load"; return 1; }

    local w1 w2
    w1=$(worker_pids node1)
    w2=$(worker_pids node2)

    "load_${LOAD_OF[$mode]}" "$mode" || return 1

    # the sessions made before the load (and before the failover) are all still there
    tokens_served "after the load" || fail "[$mode] tokens refused after the load"

    # --- no worker died
    [ "$(worker_pids node1)" = "$w1" ] || fail "[$mode] node 1's workers changed: $w1 -> $(worker_pids node1)"
    [ "$(worker_pids node2)" = "$w2" ] || fail "[$mode] node 2's workers changed: $w2 -> $(worker_pids node2)"
    for n in node1 node2; do
        if grep -E 'exited on signal|\[(alert|crit|emerg)\]' "$scratch/nginx-$n/error.log" >&2; then
            fail "[$mode] $n's error log above"
        fi
    done

    print_metrics "$mode"
    for n in 1 2; do
        sed "s/^/[$mode] node $n wrk: /" "$scratch/report-$n.txt" | sort
    done
    return 0
}

FAILED=0
skipped=()
for mode in "${run_modes[@]}"; do
    rc=0
    run_mode "$mode" || rc=$?
    if [ "$rc" = 3 ]; then
        if [ "$want" = all ]; then
            skipped+=("$mode")
            echo "test-scale: SKIPPED $mode: the module has no $("store_directive_${STORE_OF[$mode]}" | cut -d' ' -f1) yet" >&2
        else
            fail "$mode: the module has no $("store_directive_${STORE_OF[$mode]}" | cut -d' ' -f1) yet"
        fi
    elif [ "$rc" != 0 ]; then
        FAILED=1
    fi
    # this mode's processes go before the next one starts
    stop_nginx_all
    stop_store
done

if [ "$FAILED" = 0 ]; then
    ran=()
    for mode in "${run_modes[@]}"; do
        [[ " ${skipped[*]} " == *" $mode "* ]] || ran+=("$mode")
    done
    wxauth_log "test-scale: OK (${ran[*]}${skipped[*]:+; SKIPPED: ${skipped[*]}})"
else
    wxauth_log "test-scale: FAILED"
    exit 1
fi
