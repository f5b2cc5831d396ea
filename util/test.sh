#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, and runs every test:
# the GoogleTest unit tests through CTest; the self-test of the project's Test::Nginx runner
# (when the real Test::Nginx is missing); util/test-build-addons.sh (this module and a C addon
# in one nginx build); examples/check.sh on the example configuration; then
# the Test::Nginx suites in t/ against a real redis-server and the real module loaded into
# Debian's nginx.
#
#   util/test.sh                everything
#   util/test.sh t/001-login.t  unit tests, then only the named suites
#
# Environment: TEST_NGINX_USE_VALGRIND=1 runs nginx under valgrind (slow);
# WXAUTH_SKIP_INSTALL=1 skips the package check.
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing "${WXAUTH_TEST_PACKAGES[@]}"
wxauth_build

wxauth_log "unit tests (ctest)"
(cd "$WXAUTH_BUILD" && ctest --output-on-failure -j"$(nproc)")

scratch=$(mktemp -d /tmp/wxauth-test.XXXXXX)
cleanup() {
    # nginx of a block that died mid-way, then redis
    wxauth_stop_pidfile "$WXAUTH_ROOT/t/servroot/logs/nginx.pid"
    wxauth_stop_pidfile "$scratch/redis/redis.pid"
    rm -rf "$scratch"
}
trap cleanup EXIT INT TERM

wxauth_start_redis "$scratch/redis"
wxauth_log "redis-server on 127.0.0.1:$WXAUTH_REDIS_PORT"

export TEST_NGINX_REDIS_PORT=$WXAUTH_REDIS_PORT
export TEST_NGINX_PORT=${TEST_NGINX_PORT:-$(wxauth_free_port)}
export TEST_NGINX_BINARY=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
export TEST_NGINX_LOAD_MODULES=$WXAUTH_BUILD/ngx_http_wxauth_module.so

if perl -MTest::Nginx::Socket -e 1 2>/dev/null; then
    wxauth_log "Test::Nginx suites (installed Test::Nginx)"
else
    wxauth_log "Test::Nginx suites (Test::Nginx not installed: the project's runner, util/test-nginx)"
    export PERL5LIB=$WXAUTH_ROOT/util/test-nginx/lib${PERL5LIB:+:$PERL5LIB}
    if [ $# -eq 0 ]; then
        util/test-nginx/selftest.sh
    fi
fi

if [ $# -eq 0 ]; then
    util/test-build-addons.sh
    wxauth_log "examples/nginx.conf with the module (nginx -t, TLS-verified login, wrong certificate)"
    examples/check.sh
    wxauth_log "examples/prometheus: promtool check config and rules"
    promtool check config examples/prometheus/prometheus.yml
fi

# t/105-metrics.t feeds a scrape to `promtool check metrics`: here it must not be skipped
export WXAUTH_REQUIRE_PROMTOOL=1

if [ $# -gt 0 ]; then
    prove "$@"
else
    prove -r t/
fi

# the mini-program client and the Debian package (WXAUTH_SKIP_PACKAGE=1 skips the latter)
if [ $# -eq 0 ]; then
    util/test-client.sh
    [ "${WXAUTH_SKIP_PACKAGE:-0}" = 1 ] || util/test-package.sh
fi
