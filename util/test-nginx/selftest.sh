#!/bin/sh
# Self-test of the fallback Test::Nginx runner in util/test-nginx.
#
#   util/test-nginx/selftest.sh [--valgrind]
#
# 1. prove -r t-runner/                      (must pass)
# 2. every deliberately failing suite t-runner/xfail/*.tfail must make prove
#    fail, with exactly the "not ok"/"ok"/bail-out counts its header states
#    ("# expect-not-ok: N", "# expect-ok: N", "# expect-bail-out: 1")
# 3. a test process killed (SIGTERM, SIGINT, SIGHUP, SIGPIPE) in the middle of a block
#    must not leave its nginx behind
# After every step no nginx may be running on the self-test server root.
# --valgrind additionally runs t-runner/001-basic.t with
# TEST_NGINX_USE_VALGRIND=1.
#
# Environment: TEST_NGINX_BINARY (default /usr/sbin/nginx if present, else
# "nginx" from PATH).  The self-test suites listen on TEST_NGINX_PORT
# (default 19841) and use t-runner/servroot.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 2

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
TEST_NGINX_PORT=${TEST_NGINX_PORT:-19841}
export TEST_NGINX_PORT
servroot="$root/t-runner/servroot"
TEST_NGINX_SERVROOT="$servroot"
export TEST_NGINX_SERVROOT

failures=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tnginx-selftest.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "SELFTEST FAILURE: $*" >&2
    failures=$((failures + 1))
}

# no nginx may be left running on our server root
check_no_nginx() {
    what=$1
    if [ -f "$servroot/logs/nginx.pid" ]; then
        pid=$(cat "$servroot/logs/nginx.pid" 2>/dev/null)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
           && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
            fail "$what: nginx (pid $pid) from the pid file is still running"
            kill -9 "$pid" 2>/dev/null
        fi
    fi
    left=$(pgrep -f "$servroot/" 2>/dev/null | tr '\n' ' ')
    if [ -n "$left" ]; then
        fail "$what: nginx processes left running: $left"
        # shellcheck disable=SC2086
        kill -9 $left 2>/dev/null
    fi
}

header_value() {
    sed -n "s/^# $1: *\\([0-9][0-9]*\\).*/\\1/p" "$2" | head -n 1
}

echo "== 1. passing suites: prove -r t-runner/"
if ! prove -r t-runner/; then
    fail "prove -r t-runner/ did not pass"
fi
check_no_nginx "t-runner suites"

echo
echo "== 2. deliberately failing suites"
for suite in t-runner/xfail/*.tfail; do
    [ "$suite" = t-runner/xfail/slow.tfail ] && continue
    out="$tmp/out"
    prove -v "$suite" >"$out" 2>&1
    rc=$?
    not_ok=$(grep -c '^not ok' "$out")
    ok=$(grep -c '^ok [0-9]' "$out")
    bailed=$(grep -cE '^Bail out!|Further testing stopped' "$out")
    want_not_ok=$(header_value expect-not-ok "$suite")
    want_ok=$(header_value expect-ok "$suite")
    want_bail=$(header_value expect-bail-out "$suite")
    status="ok"
    if [ $rc -eq 0 ]; then
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
    check_no_nginx "$suite"
done

echo
echo "== 3. killing a test process in the middle of a block"
for sig in TERM INT HUP PIPE; do
    rm -f "$servroot/logs/nginx.pid"
    # reset SIGINT to its default: background jobs of sh start with it ignored
    perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
        perl t-runner/xfail/slow.tfail >"$tmp/slow.out" 2>&1 &
    tpid=$!
    ngx=""
    i=0
    while [ $i -lt 100 ]; do
        if [ -s "$servroot/logs/nginx.pid" ] \
           && grep -q 'GET /up' "$servroot/logs/access.log" 2>/dev/null \
           || grep -q 'http upstream request: "/up' "$servroot/logs/error.log" 2>/dev/null
        then
            ngx=$(cat "$servroot/logs/nginx.pid" 2>/dev/null)
            [ -n "$ngx" ] && break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$ngx" ]; then
        fail "SIG$sig: nginx of t-runner/xfail/slow.tfail did not come up"
        kill -9 "$tpid" 2>/dev/null
        wait "$tpid" 2>/dev/null
        check_no_nginx "SIG$sig"
        continue
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
    check_no_nginx "SIG$sig"
done

for arg in "$@"; do
    if [ "$arg" = "--valgrind" ]; then
        echo
        echo "== valgrind mode"
        if TEST_NGINX_USE_VALGRIND=1 prove t-runner/001-basic.t; then
            :
        else
            fail "TEST_NGINX_USE_VALGRIND=1 prove t-runner/001-basic.t failed"
        fi
        check_no_nginx "valgrind"
    fi
done

echo
if [ $failures -ne 0 ]; then
    echo "selftest: $failures failure(s)"
    exit 1
fi
echo "selftest: all good"
exit 0
