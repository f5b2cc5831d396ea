#!/usr/bin/env bash
# The main job, on one machine, in the foreground: WeChat mini-program login in front of an API.
#
#   util/demo.sh                          with a WeChat stand-in (no account needed)
#   WXAUTH_APPID=wx... WXAUTH_SECRET=... util/demo.sh
#   util/demo.sh --appid wx... --secret-file ./appsecret
#                                         with the real WeChat (codes from your mini-program)
#
# Installs what is missing (Debian packages), builds the module, then runs until Ctrl-C:
#   - redis-server on a free loopback port (the session store);
#   - Debian's nginx (/usr/sbin/nginx) loading build/ngx_http_wxauth_module.so, listening on
#     127.0.0.1:8080 (WXAUTH_DEMO_PORT; another free port when that one is busy), with
#       POST /wx/login             -> wxauth_login: exchanges the code, answers {"session":...}
#       /api/...                   -> wxauth on: checks X-WX-Session, passes the identity on
#       POST /wx/logout            -> wxauth_logout: ends the session
#       POST /wx/verify-signature  -> wxauth_verify_signature: checks a rawData signature
#       GET /metrics               -> wxauth_metrics: the module's counters
#   - a demo upstream (an nginx server block) that echoes the identity headers it received;
#   - a WeChat stand-in (another server block) answering jscode2session by code, unless real
#     credentials are given: then the code2session location proxies to api.weixin.qq.com with
#     TLS verification.
# Everything lives in a scratch directory under /tmp that is removed when the demo stops
# (Ctrl-C, SIGTERM, or nginx exiting on its own).
#
# Options: --appid ID, --secret SECRET (visible in `ps`: prefer WXAUTH_SECRET or
# --secret-file FILE), --port N, -h. WXAUTH_SKIP_INSTALL=1 skips the package check.
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

appid=${WXAUTH_APPID:-}
secret=${WXAUTH_SECRET:-}
secret_file=
port=${WXAUTH_DEMO_PORT:-8080}

while [ $# -gt 0 ]; do
    case $1 in
        --appid) appid=${2:?--appid needs a value}; shift 2 ;;
        --appid=*) appid=${1#*=}; shift ;;
        --secret) secret=${2:?--secret needs a value}; shift 2 ;;
        --secret=*) secret=${1#*=}; shift ;;
        --secret-file) secret_file=${2:?--secret-file needs a value}; shift 2 ;;
        --secret-file=*) secret_file=${1#*=}; shift ;;
        --port) port=${2:?--port needs a value}; shift 2 ;;
        --port=*) port=${1#*=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ -n "$secret_file" ]; then
    [ -r "$secret_file" ] || { echo "demo: cannot read $secret_file" >&2; exit 2; }
    secret=$(head -n 1 "$secret_file")
fi

if [ -n "$appid" ] && [ -n "$secret" ]; then
    mode=wechat
elif [ -n "$appid$secret" ]; then
    echo "demo: real WeChat needs both an appid and a secret (WXAUTH_APPID and WXAUTH_SECRET," \
         "or --appid with --secret/--secret-file); give both or neither" >&2
    exit 2
else
    mode=standin
    appid=wx0000000000demo
fi

case $port in
    ''|*[!0-9]*) echo "demo: the port must be a number, not \"$port\"" >&2; exit 2 ;;
esac

# --- install, build -------------------------------------------------------------------------

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing
wxauth_build >/dev/null
module=$WXAUTH_BUILD/ngx_http_wxauth_module.so
[ -f "$module" ] || { echo "demo: the build made no $module" >&2; exit 1; }

# --- scratch directory and its cleanup ------------------------------------------------------

scratch=$(mktemp -d /tmp/wxauth-demo.XXXXXX)
# nginx's workers (nobody, when started as root) read the temp directories below it
chmod 755 "$scratch"
mkdir -p "$scratch/logs" "$scratch/tmp"
nginx_pid=
nginx_workers=
ticker=
stopping=0

# alive and not a zombie waiting to be reaped
running() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}

cleanup() {
    local rc=$? i
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM HUP PIPE   # finish the cleanup whatever happens to the terminal
    set +e
    echo >&2
    if [ -n "$nginx_pid" ] && running "$nginx_pid"; then
        wxauth_log "stopping nginx (pid $nginx_pid)"
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            running "$nginx_pid" || break
            sleep 0.1
        done
        if running "$nginx_pid"; then
            kill -TERM "$nginx_pid" 2>/dev/null || true
            sleep 1
            kill -KILL "$nginx_pid" 2>/dev/null || true
        fi
        wait "$nginx_pid" 2>/dev/null || true
    fi
    # workers left behind by a master that was killed
    for i in $nginx_workers; do
        case $(tr '\0' ' ' 2>/dev/null <"/proc/$i/cmdline") in
            "nginx: worker process"*) kill -TERM "$i" 2>/dev/null || true ;;
        esac
    done
    [ -n "$ticker" ] && kill "$ticker" 2>/dev/null
    if [ -f "$scratch/redis/redis.pid" ]; then
        wxauth_log "stopping redis-server"
        wxauth_stop_pidfile "$scratch/redis/redis.pid"
    fi
    rm -rf "$scratch"
    wxauth_log "demo stopped, $scratch removed"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- ports ----------------------------------------------------------------------------------

port_is_free() {
    perl -MIO::Socket::INET -e \
        'exit(IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => $ARGV[0], ReuseAddr => 1) ? 0 : 1)' \
        "$1"
}

if ! port_is_free "$port"; then
    wanted=$port
    port=$(wxauth_free_port)
    wxauth_log "port $wanted is busy: the demo listens on $port instead (WXAUTH_DEMO_PORT sets it)"
fi

read -r upstream_port standin_port < <(wxauth_free_ports 2)

wxauth_start_redis "$scratch/redis"
wxauth_log "redis-server on 127.0.0.1:$WXAUTH_REDIS_PORT (pid $WXAUTH_REDIS_PID)"

# The secret goes to a file only the master (which reads it at startup) can read: never into
# nginx.conf.
( umask 077; printf '%s\n' "$secret" >"$scratch/appsecret" )
[ "$mode" = standin ] && printf 'demo-secret\n' >"$scratch/appsecret"

# --- nginx.conf -----------------------------------------------------------------------------

if [ "$mode" = wechat ]; then
    code2session_location="
        location = /_wxauth/jscode2session {
            internal;
            proxy_pass https://api.weixin.qq.com/sns/jscode2session;
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 3;
            proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
            proxy_ssl_server_name on;
            proxy_ssl_name api.weixin.qq.com;
            proxy_connect_timeout 3s;
            proxy_send_timeout 3s;
            proxy_read_timeout 3s;
            proxy_next_upstream off;     # a code is single use: never send it twice
            subrequest_output_buffer_size 16k;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length \"\";
        }"
else
    code2session_location=$(wxauth_standin_code2session_location "$standin_port")
fi

cat >"$scratch/nginx.conf" <<EOF
# generated by util/demo.sh ($mode mode)
load_module $module;

daemon off;
master_process on;
worker_processes 1;
pid $scratch/nginx.pid;
error_log stderr warn;
error_log $scratch/logs/error.log info;

events {
    worker_connections 256;
}

http {
    access_log $scratch/logs/access.log;
$(wxauth_nginx_temp_paths "$scratch/tmp")
    default_type application/octet-stream;

    # --- ngx_http_wxauth_module ---
    wxauth_redis 127.0.0.1:$WXAUTH_REDIS_PORT;
    wxauth_redis_timeout 500ms;
    wxauth_appid $appid;
    wxauth_secret_file $scratch/appsecret;
    wxauth_code2session /_wxauth/jscode2session;

    # the front door
    server {
        listen 127.0.0.1:$port;
        server_name localhost;

        # POST {"code":"..."} -> {"session":"<token>","expires_in":86400}
        location = /wx/login {
            wxauth_login;
        }

        # POST with X-WX-Session -> {"logged_out":true}: the session is deleted from Redis
        location = /wx/logout {
            wxauth_logout;
        }

        # POST {"rawData":...,"signature":...} with X-WX-Session -> {"valid":true}, checked
        # with the caller's session_key, which never leaves the server
        location = /wx/verify-signature {
            wxauth_verify_signature;
        }

        # the module's counters, Prometheus text format
        location = /metrics {
            wxauth_metrics;
        }
$code2session_location

        # everything under /api/ needs a session; the upstream learns who is calling
        location /api/ {
            wxauth on;
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-UnionID \$wxauth_unionid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_set_header X-WX-Session "";     # the token stays here
            proxy_pass http://127.0.0.1:$upstream_port;
        }

        location = / {
            default_type application/json;
            return 200 '{"demo":"ngx_http_wxauth_module","login":"POST /wx/login","api":"/api/..."}\n';
        }
    }

    # the demo upstream: any application server that trusts the identity headers
    server {
        listen 127.0.0.1:$upstream_port;

        location / {
            default_type application/json;
            return 200 '{"hello":"from the demo upstream","method":"\$request_method","openid":"\$http_x_wx_openid","unionid":"\$http_x_wx_unionid","appid":"\$http_x_wx_appid","x_wx_session_seen":"\$http_x_wx_session"}\n';
        }
    }

    # the WeChat stand-in: jscode2session with canned answers by code
$(wxauth_standin_server "$standin_port" "$scratch/logs/wechat-standin.log")
}
EOF

/usr/sbin/nginx -t -q -e stderr -p "$scratch/" -c "$scratch/nginx.conf" || {
    if [ "$mode" = wechat ]; then
        echo "demo: nginx refused the configuration (is api.weixin.qq.com resolvable from here?)" >&2
    fi
    exit 1
}

# --- run ------------------------------------------------------------------------------------

/usr/sbin/nginx -e stderr -p "$scratch/" -c "$scratch/nginx.conf" &
nginx_pid=$!

for i in $(seq 1 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
    running "$nginx_pid" || { echo "demo: nginx did not start" >&2; exit 1; }
    sleep 0.1
done

base=http://127.0.0.1:$port
redis_cli="redis-cli -p $WXAUTH_REDIS_PORT"

if [ "$mode" = standin ]; then
    wechat_note="WeChat stand-in on 127.0.0.1:$standin_port: any code logs in (openid oDemo_<code>);
#   the codes invalid, used, blocked, ratelimit, busy, badsecret, garbage play WeChat's failures."
    code=alice
else
    wechat_note="real WeChat (appid $appid): codes come from wx.login() in your mini-program
#   (WeChat DevTools: call wx.login and copy res.code; a code works once, for about 5 minutes)."
    code='<a code from wx.login()>'
fi

cat <<EOF

  ngx_http_wxauth_module demo is up: $base   (Ctrl-C stops everything)
#   nginx pid $nginx_pid, config and logs in $scratch
#   redis on 127.0.0.1:$WXAUTH_REDIS_PORT, demo upstream on 127.0.0.1:$upstream_port
#   $wechat_note

# 1. Log in: the mini-program posts the code from wx.login(); nginx exchanges it at
#    jscode2session and answers with an opaque session token (never the session_key).
curl -s $base/wx/login --json '{"code":"$code"}'
#    -> {"session":"<43 characters>","expires_in":86400}
TOKEN=\$(curl -s $base/wx/login --json '{"code":"$code"}' | sed -E 's/.*"session":"([^"]*)".*/\1/'); echo "\$TOKEN"

# 2. Call the protected API with the token: the upstream receives the caller's identity.
curl -s $base/api/profile -H "X-WX-Session: \$TOKEN"
#    -> {"hello":"from the demo upstream",...,"openid":"oDemo_alice","unionid":"uDemo_union","appid":"$appid",...}
#    Identity headers sent by the client are replaced, never passed on:
curl -s $base/api/profile -H "X-WX-Session: \$TOKEN" -H 'X-WX-OpenID: admin'

# 3. Without a token, with a malformed one, with an unknown one: JSON errors, no upstream call.
curl -si $base/api/profile
#    -> 401 {"error":"missing_session",...}
curl -s $base/api/profile -H 'X-WX-Session: not-a-token'
#    -> {"error":"invalid_session",...}
curl -s $base/api/profile -H 'X-WX-Session: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
#    -> {"error":"session_expired",...}

# 4. Login failures:
curl -si $base/wx/login
#    -> 405 {"error":"method_not_allowed",...}
curl -s $base/wx/login --json '{"nocode":1}'
#    -> {"error":"invalid_request",...}
EOF
if [ "$mode" = standin ]; then
cat <<EOF
curl -si $base/wx/login --json '{"code":"invalid"}'
#    -> 401 {"error":"invalid_code","message":...,"wx_errcode":40029}
#    (blocked -> 403 user_blocked, ratelimit -> 429 rate_limited, busy -> 502 wechat_unavailable)
EOF
fi
cat <<EOF

# 5. What Redis holds: the session's key is the SHA-256 of the token, never the token itself
#    (wxauth:k:<appid>:<openid> keeps the user's newest session_key).
$redis_cli --scan --pattern 'wxauth:*'
$redis_cli GET "wxauth:s:\$(printf %s "\$TOKEN" | sha256sum | cut -d' ' -f1)"
EOF
if [ "$mode" = standin ]; then
    # WeChat's documented signature example; the stand-in hands out its session_key
    sigjson='{"rawData":"{\"nickName\":\"Band\",\"gender\":1,\"language\":\"zh_CN\",\"city\":\"Guangzhou\",\"province\":\"Guangdong\",\"country\":\"CN\",\"avatarUrl\":\"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0\"}","signature":"75e81ceda165f4ffa64f4068af58c64b8f54b88c"}'
    cat <<EOF

# 6. Check a wx.getUserInfo() signature with the caller's session_key (the stand-in hands out
#    the key of WeChat's documented example, so the example's rawData and signature match):
EOF
    printf '%s\n' "curl -s $base/wx/verify-signature -H \"X-WX-Session: \$TOKEN\" --json '$sigjson'"
    cat <<EOF
#    -> {"valid":true}   (another signature: 400 {"error":"signature_mismatch",...})
EOF
fi
cat <<EOF

# 7. The module's counters (Prometheus text format):
curl -s $base/metrics | grep -E '^wxauth_(logins|session_checks)_total'

# 8. Log out: the session is deleted from Redis, the token stops working at once.
curl -s $base/wx/logout -X POST -H "X-WX-Session: \$TOKEN"
#    -> {"logged_out":true}
curl -s $base/api/profile -H "X-WX-Session: \$TOKEN"
#    -> {"error":"session_expired",...}

# Logs: warnings and errors appear below; everything (info level) in $scratch/logs/error.log
EOF

# --- wait for Ctrl-C or for nginx to stop on its own ------------------------------------------

set +e
while :; do
    # the workers, to stop them should the master die without them (kill -9)
    nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
    sleep 2 &
    ticker=$!
    done_pid=
    wait -n -p done_pid "$ticker" "$nginx_pid"
    rc=$?
    [ "$done_pid" = "$nginx_pid" ] && break
done
sleep 0.2   # lets a pending Ctrl-C trap run first: Ctrl-C reaches nginx too
nginx_pid=
echo "demo: nginx has stopped (exit status $rc), stopping the rest" >&2
exit "$rc"
