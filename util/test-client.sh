#!/usr/bin/env bash
# Tests the mini-program client (client/) against the real thing, with Node's own test runner:
# Debian's nginx with the module built in build/, a redis-server and the WeChat stand-in, all on
# free loopback ports and stopped by PID afterwards. First checks that client/wxauth.js parses
# as ES2015 (acorn, Debian's node-acorn) and type-checks client/wxauth.d.ts (tsc, Debian's
# node-typescript).
#
#   util/test-client.sh        (util/test.sh runs it; the module must be built: util/test.sh
#                               or util/demo.sh build it)
# WXAUTH_SKIP_INSTALL=1 skips the package check (nodejs, node-acorn, node-typescript).
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing "${WXAUTH_CLIENT_PACKAGES[@]}"

module=$WXAUTH_BUILD/ngx_http_wxauth_module.so
[ -f "$module" ] || { echo "test-client: build the module first (util/test.sh)" >&2; exit 1; }

work=$(mktemp -d /tmp/wxauth-client.XXXXXX)
chmod 755 "$work"
cleanup() {
    set +e
    wxauth_stop_pidfile "$work/nginx.pid"
    wxauth_stop_pidfile "$work/redis/redis.pid"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

wxauth_log "acorn --ecma2015: client/wxauth.js is plain ES2015"
acorn --ecma2015 --silent client/wxauth.js
wxauth_log "tsc -p client: the declarations in client/wxauth.d.ts (client/test/types.ts)"
tsc -p client

wxauth_start_redis "$work/redis"
read -r port app_port standin_port < <(wxauth_free_ports 3)
appid=wx0000000000client
printf 'client-test-secret\n' >"$work/appsecret"

cat >"$work/nginx.conf" <<EOF
load_module $module;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/error.log info;
events { worker_connections 256; }

http {
    access_log $work/access.log;
$(wxauth_nginx_temp_paths "$work")

    wxauth_redis 127.0.0.1:$WXAUTH_REDIS_PORT;
    wxauth_redis_timeout 300ms;
    wxauth_appid $appid;
    wxauth_secret_file $work/appsecret;
    wxauth_code2session /_wxauth/jscode2session;

    server {
        listen 127.0.0.1:$port;

        location = /wx/login { wxauth_login; }
        location = /wx/logout { wxauth_logout; }
        location = /wx/verify-signature { wxauth_verify_signature; }
        location = /wx/decrypt { wxauth_decrypt; wxauth_watermark_max_age 10m; }
        location = /metrics { wxauth_metrics; }
$(wxauth_standin_code2session_location "$standin_port")

        location /api/ {
            wxauth on;
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_set_header X-WX-Session "";
            proxy_pass http://127.0.0.1:$app_port;
        }

        # the token in another header
        location /alt/ {
            wxauth on;
            wxauth_token \$http_x_shop_token;
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_pass http://127.0.0.1:$app_port;
        }
    }

    # the application: tells who called; two error answers of its own
    server {
        listen 127.0.0.1:$app_port;
        default_type application/json;
        location / {
            return 200 '{"openid":"\$http_x_wx_openid","appid":"\$http_x_wx_appid","token_seen":"\$http_x_wx_session","uri":"\$uri"}';
        }
        location = /api/teapot {
            return 418 '{"error":"teapot","message":"the application refuses"}';
        }
        location = /api/plain-error {
            default_type text/plain;
            return 500 'the application failed';
        }
    }

$(wxauth_standin_server "$standin_port" "$work/wechat.log")
}
EOF

/usr/sbin/nginx -t -q -e stderr -p "$work/" -c "$work/nginx.conf"
/usr/sbin/nginx -e stderr -p "$work/" -c "$work/nginx.conf"
wxauth_wait_for_url "http://127.0.0.1:$port/metrics" || { tail -n 20 "$work/error.log" >&2; exit 1; }
wxauth_log "nginx on 127.0.0.1:$port, redis on $WXAUTH_REDIS_PORT, WeChat stand-in on $standin_port"

wxauth_log "node --test client/test/client.test.js ($(node --version))"
rc=0
WXAUTH_CLIENT_TEST_BASE=http://127.0.0.1:$port \
WXAUTH_CLIENT_TEST_REDIS_PORT=$WXAUTH_REDIS_PORT \
WXAUTH_CLIENT_TEST_APPID=$appid \
    node --test --test-reporter=tap client/test/client.test.js | tee "$work/node.log" || rc=$?
passed=$(sed -n 's/^# pass //p' "$work/node.log")
failed=$(sed -n 's/^# fail //p' "$work/node.log")
if [ "$rc" -ne 0 ] || [ "${passed:-0}" -eq 0 ]; then
    echo "test-client: FAILED (node --test exit $rc); nginx's error log ends with:" >&2
    tail -n 30 "$work/error.log" >&2
    echo "client: ${passed:-0} passed, ${failed:-1} failed"
    exit 1
fi
echo "client: $passed passed, $failed failed"
