#!/usr/bin/env bash
# Checks examples/nginx.conf with the real module and Debian's nginx, on loopback only:
#   examples/check.sh [CONF]   (default examples/nginx.conf)
#   1. `nginx -t` on a copy where only machine-specific things are replaced (module path, pid and
#      log paths, ports, certificate files, the Redis address, api.weixin.qq.com -> a local TLS
#      stand-in whose certificate is issued for api.weixin.qq.com by a throw-away CA);
#   2. runs that copy and logs in through the hardened WeChat location (TLS verified against the
#      throw-away CA, SNI and name check included), calls /api/, logs out, reads /metrics;
#   3. swaps the stand-in's certificate for one with another name: the login must fail with
#      502 and the error log must not contain the secret.
# Uses the module built in build/ (util/demo.sh or util/test.sh build it); with
# WXAUTH_CHECK_INSTALLED=1 the one the Debian package installed (util/test-package.sh).
set -euo pipefail

. "$(dirname "$0")/../util/common.sh"
cd "$WXAUTH_ROOT"

work=$(mktemp -d /tmp/wxauth-example.XXXXXX)
chmod 755 "$work"
if [ "${WXAUTH_CHECK_INSTALLED:-0}" = 1 ]; then
    # the module as installed by the Debian package, loaded by the configuration's
    # modules-enabled include (load_module paths there are relative to nginx's prefix)
    module_line='include /etc/nginx/modules-enabled/*.conf;'
    ln -s /usr/lib/nginx/modules "$work/modules"
else
    # the module built in build/; this machine's other enabled modules are left out
    module=$WXAUTH_BUILD/ngx_http_wxauth_module.so
    [ -f "$module" ] || { echo "check: build the module first (util/test.sh or util/demo.sh)" >&2; exit 1; }
    module_line="load_module $module;"
fi
cleanup() {
    set +e
    wxauth_stop_pidfile "$work/nginx.pid"
    wxauth_stop_pidfile "$work/redis/redis.pid"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

fail() { echo "check: FAILED: $*" >&2; [ -f "$work/error.log" ] && tail -n 20 "$work/error.log" >&2; exit 1; }

# --- throw-away PKI ---
(
    cd "$work"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wxauth example test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    for name in api.weixin.qq.com wrong.example.net; do
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" \
            -out "$name.csr" 2>/dev/null
        printf 'subjectAltName=DNS:%s\n' "$name" >"$name.ext"
        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile "$name.ext" -out "$name.pem" 2>/dev/null
    done
    cp api.weixin.qq.com.pem wechat.pem
    cp api.weixin.qq.com.key wechat.key
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=api.example.com" \
        -keyout front.key -out front.pem 2>/dev/null
)

secret=example-secret-0123456789abcdef
( umask 077; printf '%s\n' "$secret" >"$work/appsecret" )

wxauth_start_redis "$work/redis"
read -r http_port https_port metrics_port wechat_port app_port < <(wxauth_free_ports 5)

# --- the copy: machine-specific substitutions only ---
sed -e "s|^include /etc/nginx/modules-enabled/.*|$module_line|" \
    -e "s|^pid .*|pid $work/nginx.pid;|" \
    -e "s|^error_log .*|error_log $work/error.log info;|" \
    -e "s|access_log /var/log/nginx/access.log;|access_log $work/access.log;|" \
    -e "s|wxauth_redis 127.0.0.1:6379;|wxauth_redis 127.0.0.1:$WXAUTH_REDIS_PORT;|" \
    -e "s|/etc/nginx/wxauth/appsecret|$work/appsecret|" \
    -e "s|server api.weixin.qq.com:443;|server 127.0.0.1:$wechat_port;|" \
    -e "s|server 127.0.0.1:3000;|server 127.0.0.1:$app_port;|" \
    -e "s|proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;|proxy_ssl_trusted_certificate $work/ca.pem;|" \
    -e "s|/etc/letsencrypt/live/api.example.com/fullchain.pem|$work/front.pem|" \
    -e "s|/etc/letsencrypt/live/api.example.com/privkey.pem|$work/front.key|" \
    -e "s|listen 80;|listen 127.0.0.1:$http_port;|" \
    -e "s|listen 443 ssl http2;|listen 127.0.0.1:$https_port ssl http2;|" \
    -e "s|listen 127.0.0.1:9145;|listen 127.0.0.1:$metrics_port;|" \
    "${1:-examples/nginx.conf}" >"$work/nginx.conf"

# the stand-ins, appended inside http { }: WeChat over TLS, and the application
sed -i '$d' "$work/nginx.conf"
cat >>"$work/nginx.conf" <<EOF

    # ---- added by examples/check.sh ----
$(wxauth_nginx_temp_paths "$work")

    server {
        listen 127.0.0.1:$wechat_port ssl;
        ssl_certificate $work/wechat.pem;
        ssl_certificate_key $work/wechat.key;
        location = /sns/jscode2session {
            default_type text/plain;
            if (\$arg_secret != "$secret") {
                return 200 '{"errcode":40125,"errmsg":"invalid appsecret"}';
            }
            return 200 '{"session_key":"HyVFkGl5F5OQWJZZaNzBBg==","openid":"oExample_\$arg_js_code"}';
        }
    }

    server {
        listen 127.0.0.1:$app_port;
        location / {
            default_type application/json;
            return 200 '{"openid":"\$http_x_wx_openid","unionid":"\$http_x_wx_unionid","appid":"\$http_x_wx_appid","token_seen":"\$http_x_wx_session"}';
        }
    }
}
EOF

wxauth_log "nginx -t on examples/nginx.conf (machine-specific values replaced)"
/usr/sbin/nginx -t -e stderr -p "$work/" -c "$work/nginx.conf"

wxauth_log "running it: login over verified TLS, /api/, logout, metrics"
/usr/sbin/nginx -e stderr -p "$work/" -c "$work/nginx.conf"
for i in $(seq 1 50); do
    [ -s "$work/nginx.pid" ] && curl -ks -o /dev/null "https://127.0.0.1:$https_port/" && break
    sleep 0.1
done

front=(curl -sk --resolve "api.example.com:$https_port:127.0.0.1")
base=https://api.example.com:$https_port

login=$("${front[@]}" "$base/wx/login" --json '{"code":"c0de"}')
token=$(printf '%s' "$login" | sed -nE 's/.*"session":"([A-Za-z0-9_-]{43})".*/\1/p')
[ -n "$token" ] || fail "login answered: $login"
echo "login: $login"

api=$("${front[@]}" "$base/api/me" -H "X-WX-Session: $token" -H 'X-WX-OpenID: spoofed')
echo "api:   $api"
case $api in
    *'"openid":"oExample_c0de"'*'"appid":"wx0123456789abcdef"'*'"token_seen":""'*) ;;
    *) fail "unexpected identity at the application: $api" ;;
esac

noauth=$("${front[@]}" -o /dev/null -w '%{http_code}' "$base/api/me")
[ "$noauth" = 401 ] || fail "/api/ without a token answered $noauth"

public=$("${front[@]}" "$base/public" -H 'X-WX-OpenID: spoofed')
case $public in *'"openid":""'*) ;; *) fail "spoofed identity passed on a public location: $public" ;; esac

logout=$("${front[@]}" -X POST "$base/wx/logout" -H "X-WX-Session: $token")
echo "logout: $logout"
after=$("${front[@]}" -o /dev/null -w '%{http_code}' "$base/api/me" -H "X-WX-Session: $token")
[ "$after" = 401 ] || fail "the token still works after logout ($after)"

# (read whole first: with pipefail, `grep -q` leaving early would fail curl with SIGPIPE)
metrics=$(curl -s "http://127.0.0.1:$metrics_port/metrics")
grep -q '^wxauth_' <<<"$metrics" || fail "no metrics"

wxauth_log "a WeChat certificate for another name must be refused"
cp "$work/wrong.example.net.pem" "$work/wechat.pem"
cp "$work/wrong.example.net.key" "$work/wechat.key"
/usr/sbin/nginx -s reload -e stderr -p "$work/" -c "$work/nginx.conf"
sleep 1
bad=$("${front[@]}" -w ' %{http_code}' "$base/wx/login" --json '{"code":"c0de2"}')
echo "login against the wrong certificate: $bad"
case $bad in *' 502') ;; *) fail "login against a wrong certificate answered: $bad" ;; esac
grep -q 'upstream SSL certificate does not match' "$work/error.log" \
    || fail "no certificate name mismatch in the error log"
if grep -q "$secret" "$work/error.log"; then
    fail "the secret is in the error log"
fi
grep 'upstream SSL certificate does not match' "$work/error.log" | tail -n 1

echo "examples/nginx.conf: 1 passed, 0 failed"
