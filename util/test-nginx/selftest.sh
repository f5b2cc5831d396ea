#!/bin/sh
# Self-test of the fallback Test::Nginx runner in util/test-nginx.
#
#   util/test-nginx/selftest.sh [--valgrind]
#
# 1. prove util/test-nginx/t/*.t                 (must pass)
# 2. every deliberately failing suite util/test-nginx/t/xfail/*.tfail must make
#    prove fail, with exactly the "not ok"/"ok"/bail-out counts its header
#    states ("# expect-not-ok: N", "# expect-ok: N", "# expect-bail-out: 1")
# 3. a test process killed (SIGTERM, SIGINT, SIGHUP, SIGPIPE) in the middle of
#    a block must not leave its nginx behind
# After every step no nginx may be running on that step's server roots.
# The three steps, the suites of step 1 (prove -j), the suites of step 2 and the
# four kills of step 3 all run side by side: each suite gets free ports and a
# server root of its own, util/test-nginx/t/servroots/NAME (t/own-ports).
# --valgrind additionally runs t/001-basic.t with TEST_NGINX_USE_VALGRIND=1.
#
# Environment: TEST_NGINX_BINARY (default /usr/sbin/nginx if present, else
# "nginx" from PATH); SELFTEST_JOBS (parallel suites of step 1, default 4).

set -u

here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 2

PERL5LIB="$here/lib${PERL5LIB:+:$PERL5LIB}"
export PERL5LIB
if [ -z "${TEST_NGINX_BINARY:-}" ]; then
    if [ -x /usr/sbin/nginx ]; then
        TEST_NGINX_BINARY=/usr/sbin/nginx
    else
        TEST_NGINX_BINARY=nginx
    fi
fi
export TEST_NGINX_BINARY
# each suite gets its own (t/own-ports); none may come from the caller's environment
unset TEST_NGINX_PORT TEST_NGINX_SERVER_PORT TEST_NGINX_CLIENT_PORT TEST_NGINX_SERVROOT \
      TEST_NGINX_TCP_PORT TEST_NGINX_UDP_PORT TEST_NGINX_LOAD_MODULES
own=t/own-ports
servroot="$here/t/servroots"
jobs=${SELFTEST_JOBS:-4}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tnginx-selftest.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# failures are counted in a file: the steps run in subshells
: > "$tmp/failures"
fail() {
    echo "SELFTEST FAILURE: $*" >&2
    echo x >> "$tmp/failures"
}

# check_no_nginx WHAT NAME...: no nginx may be left running on those server roots
check_no_nginx() {
    what=$1
    shift
    for name in "$@"; do
        dir="$servroot/$name"
        if [ -f "$dir/logs/nginx.pid" ]; then
            pid=$(cat "$dir/logs/nginx.pid" 2>/dev/null)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
               && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                fail "$what: nginx (pid $pid) from the pid file is still running"
                kill -9 "$pid" 2>/dev/null
            fi
        fi
        left=$(pgrep -f "$dir/" 2>/dev/null | tr '\n' ' ')
        if [ -n "$left" ]; then
            fail "$what: nginx processes left running: $left"
            # shellcheck disable=SC2086
            kill -9 $left 2>/dev/null
        fi
    done
}

header_value() {
    sed -n "s/^# $1: *\\([0-9][0-9]*\\).*/\\1/p" "$2" | head -n 1
}

suite_name() {   # the server root name t/own-ports gives a suite
    n=$(basename "$1")
    n=${n%.t}
    case $1 in
        *xfail/*) echo "xfail-${n%.tfail}" ;;
        *) echo "$n" ;;
    esac
}

# --- 1. passing suites ------------------------------------------------------
step1() {
    names=
    for suite in t/*.t; do
        names="$names $(suite_name "$suite")"
    done
    if ! prove -j"$jobs" --exec "$here/$own" t/*.t; then
        fail "prove t/*.t did not pass"
    fi
    # shellcheck disable=SC2086
    check_no_nginx "t/*.t suites" $names
}

# --- 2. deliberately failing suites -----------------------------------------
step2_one() {
    suite=$1
    out="$tmp/$(suite_name "$suite").out"
    prove -v --exec "$here/$own" "$suite" >"$out" 2>&1
    echo $? > "$out.rc"
}

step2_check() {
    suite=$1
    out="$tmp/$(suite_name "$suite").out"
    rc=$(cat "$out.rc")
    not_ok=$(grep -c '^not ok' "$out")
    ok=$(grep -c '^ok [0-9]' "$out")
    bailed=$(grep -cE '^Bail out!|Further testing stopped' "$out")
    want_not_ok=$(header_value expect-not-ok "$suite")
    want_ok=$(header_value expect-ok "$suite")
    want_bail=$(header_value expect-bail-out "$suite")
    status="ok"
    if [ "$rc" -eq 0 ]; then
        fail "$suite: prove reported success"
        status="NOT FAILING"
    fi
    if [ -n "$want_not_ok" ] && [ "$not_ok" != "$want_not_ok" ]; then
        fail "$suite: $not_ok 'not ok' lines, expected $want_not_ok"
        status="WRONG COUNT"
    fi
    if [ -n "$want_ok" ] && [ "$ok" != "$want_ok" ]; then
        fail "$suite: $ok 'ok' lines, expected $want_ok"
        status="WRONG COUNT"
    fi
    if [ -n "$want_bail" ] && [ "$bailed" -lt 1 ]; then
        fail "$suite: expected a bail out"
        status="NO BAIL OUT"
    fi
    echo "$suite: prove exit $rc, not ok=$not_ok ok=$ok bail-out=$bailed => $status"
    if [ "$status" != ok ]; then
        sed 's/^/    | /' "$out"
    fi
    check_no_nginx "$suite" "$(suite_name "$suite")"
}

step2() {
    for suite in t/xfail/*.tfail; do
        [ "$suite" = t/xfail/slow.tfail ] && continue
        step2_one "$suite" &
    done
    wait
    for suite in t/xfail/*.tfail; do
        [ "$suite" = t/xfail/slow.tfail ] && continue
        step2_check "$suite"
    done
}

# --- 3. killing a test process in the middle of a block ---------------------
step3_one() {
    sig=$1
    name=slow-$sig
    dir="$servroot/$name"
    rm -f "$dir/logs/nginx.pid"
    # reset SIGINT to its default: background jobs of sh start with it ignored
    perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
        "$here/$own" --name "$name" t/xfail/slow.tfail >"$tmp/$name.out" 2>&1 &
    tpid=$!
    ngx=""
    i=0
    while [ $i -lt 100 ]; do
        if [ -s "$dir/logs/nginx.pid" ] \
           && grep -q 'GET /up' "$dir/logs/access.log" 2>/dev/null \
           || grep -q 'http upstream request: "/up' "$dir/logs/error.log" 2>/dev/null
        then
            ngx=$(cat "$dir/logs/nginx.pid" 2>/dev/null)
            [ -n "$ngx" ] && break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$ngx" ]; then
        fail "SIG$sig: nginx of t/xfail/slow.tfail did not come up"
        kill -9 "$tpid" 2>/dev/null
        wait "$tpid" 2>/dev/null
        check_no_nginx "SIG$sig" "$name"
        return
    fi
    kill -"$sig" "$tpid"
    wait "$tpid"
    rc=$?
    sleep 0.2
    if kill -0 "$ngx" 2>/dev/null \
       && ! grep -q '^State:.*Z' "/proc/$ngx/status" 2>/dev/null; then
        fail "SIG$sig: nginx $ngx survived the killed test process"
        kill -9 "$ngx" 2>/dev/null
        echo "SIG$sig: test process exit $rc, nginx $ngx still running => FAIL"
    else
        echo "SIG$sig: test process exit $rc, nginx $ngx stopped => ok"
    fi
    check_no_nginx "SIG$sig" "$name"
}

step3() {
    for sig in TERM INT HUP PIPE; do
        step3_one "$sig" >"$tmp/step3-$sig.log" 2>&1 &
    done
    wait
    for sig in TERM INT HUP PIPE; do
        cat "$tmp/step3-$sig.log"
    done
}

step1 >"$tmp/step1.log" 2>&1 &
step1_pid=$!
step2 >"$tmp/step2.log" 2>&1 &
step2_pid=$!
step3 >"$tmp/step3.log" 2>&1 &
step3_pid=$!
wait $step1_pid $step2_pid $step3_pid

echo "== 1. passing suites: prove -j$jobs util/test-nginx/t/*.t"
cat "$tmp/step1.log"
echo
echo "== 2. deliberately failing suites"
cat "$tmp/step2.log"
echo
echo "== 3. killing a test process in the middle of a block"
cat "$tmp/step3.log"

for arg in "$@"; do
    if [ "$arg" = "--valgrind" ]; then
        echo
        echo "== valgrind mode"
        if ! TEST_NGINX_USE_VALGRIND=1 prove --exec "$here/$own" t/001-basic.t; then
            fail "TEST_NGINX_USE_VALGRIND=1 prove t/001-basic.t failed"
        fi
        check_no_nginx "valgrind" 001-basic
    fi
done

failures=$(wc -l < "$tmp/failures")
echo
if [ "$failures" -ne 0 ]; then
    echo "selftest: $failures failure(s)"
    exit 1
fi
echo "selftest: all good"
exit 0
