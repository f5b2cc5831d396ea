# Shared by util/test.sh and util/demo.sh: installing what is missing, building, free ports.
# shellcheck shell=bash

WXAUTH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WXAUTH_BUILD=${WXAUTH_BUILD:-$WXAUTH_ROOT/build}

# Debian packages the build, the tests and the demo need.
WXAUTH_PACKAGES=(
    build-essential cmake
    nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev
    libhiredis-dev libcjson-dev redis-server
    googletest libgtest-dev
    libtest-base-perl libtext-diff-perl libtest-longstring-perl liblist-moreutils-perl
    libwww-perl liburi-perl libipc-run-perl
    curl openssl
)

# What util/package.sh needs on top (debian/control's Build-Depends are in WXAUTH_PACKAGES).
WXAUTH_PACKAGING_PACKAGES=(debhelper dpkg-dev lintian)
# What util/test-client.sh needs on top.
WXAUTH_CLIENT_PACKAGES=(nodejs node-acorn node-typescript)
# What only the test command needs besides (promtool, for the metrics' format and rules;
# redis-sentinel, for t/011-sentinel.t's failover).
WXAUTH_TEST_PACKAGES=(
    prometheus redis-sentinel
)

wxauth_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

wxauth_install_missing() {
    local missing=() p
    for p in "${WXAUTH_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    wxauth_log "installing missing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # a fresh install of nginx or redis-server must not leave services running on 80/6379
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
        WXAUTH_REMOVE_POLICY=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    if [ "${WXAUTH_REMOVE_POLICY:-0}" = 1 ]; then
        "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
    fi
}

wxauth_build() {
    wxauth_log "building the core, the unit tests and ngx_http_wxauth_module.so"
    cmake -S "$WXAUTH_ROOT" -B "$WXAUTH_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$WXAUTH_BUILD" -j"$(nproc)"
}

# A TCP port nobody listens on right now (the kernel picks it).
wxauth_free_port() {
    wxauth_free_ports 1
}

# N distinct TCP ports nobody listens on right now, on one line: all N sockets are held open
# while the kernel picks, so two of them are never the same port (separate calls of
# wxauth_free_port may be).
#   read -r a b c < <(wxauth_free_ports 3)
wxauth_free_ports() {
    perl -MIO::Socket::INET -e \
        'my @s = map { IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1) or die "no free port: $!\n" } 1 .. $ARGV[0]; print join(" ", map { $_->sockport } @s), "\n";' "$1"
}

# Starts redis-server on a free loopback port in a scratch directory; sets WXAUTH_REDIS_PORT
# and WXAUTH_REDIS_PID. The caller's trap stops it.
wxauth_start_redis() {
    local dir=$1 i
    mkdir -p "$dir"
    WXAUTH_REDIS_PORT=$(wxauth_free_port)
    redis-server --bind 127.0.0.1 --port "$WXAUTH_REDIS_PORT" --save '' --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid"
    for i in $(seq 1 50); do
        if redis-cli -p "$WXAUTH_REDIS_PORT" ping >/dev/null 2>&1; then
            WXAUTH_REDIS_PID=$(cat "$dir/redis.pid")
            return 0
        fi
        sleep 0.1
    done
    echo "redis-server did not start, see $dir/redis.log" >&2
    return 1
}

wxauth_stop_pidfile() {
    local pidfile=$1 pid i
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

# nginx's temporary directories under DIR (inside http { }), for an nginx run with -p: Debian's
# defaults (/var/lib/nginx/...) are not writable by everyone.
#   wxauth_nginx_temp_paths DIR
wxauth_nginx_temp_paths() {
    local t
    for t in client_body:body proxy uwsgi fastcgi scgi; do
        printf '    %s_temp_path %s/%s;\n' "${t%%:*}" "$1" "${t#*:}"
    done
}

# Waits (5 s at most) until URL answers over HTTP.
#   wxauth_wait_for_url URL
wxauth_wait_for_url() {
    local i
    for i in $(seq 1 50); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    return 1
}

# nginx configuration of the WeChat stand-in (util/demo.sh, util/test-client.sh): the internal
# code2session location of the front server, pointing at the stand-in ...
#   wxauth_standin_code2session_location STANDIN_PORT
wxauth_standin_code2session_location() {
    cat <<CONF
        location = /_wxauth/jscode2session {
            internal;
            # the WeChat stand-in, in place of https://api.weixin.qq.com
            proxy_pass http://127.0.0.1:$1/sns/jscode2session;
            proxy_connect_timeout 3s;
            proxy_send_timeout 3s;
            proxy_read_timeout 3s;
            proxy_next_upstream off;
            subrequest_output_buffer_size 16k;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
CONF
}

# ... and the stand-in itself (maps and a server block, inside http { }): jscode2session with
# answers by code. A code is "<name>" or "<name>.<anything>"; the user's openid is oDemo_<name>.
# The names invalid, used, blocked, ratelimit, busy, badsecret and garbage get WeChat's
# refusals. A name prefixed "k2_" is the same user after WeChat renewed the session_key: the
# session_key of WeChat's decryption example instead of the one of its signature example.
#   wxauth_standin_server STANDIN_PORT ACCESS_LOG
wxauth_standin_server() {
    cat <<CONF
    map \$arg_js_code \$demo_openid {
        "~^(?:k2_)?(?<c>[A-Za-z0-9_-]{1,64})"  "oDemo_\$c";
        default                                "oDemo_other";
    }

    map \$arg_js_code \$demo_session_key {
        "~^k2_"    "tiihtNczf5v6AKRyjwEUhQ==";
        default    "HyVFkGl5F5OQWJZZaNzBBg==";
    }

    map \$arg_js_code \$demo_wechat_answer {
        "~^invalid([.]|\$)"    '{"errcode":40029,"errmsg":"invalid code, rid: demo"}';
        "~^used([.]|\$)"       '{"errcode":40163,"errmsg":"code been used, rid: demo"}';
        "~^blocked([.]|\$)"    '{"errcode":40226,"errmsg":"code blocked, rid: demo"}';
        "~^ratelimit([.]|\$)"  '{"errcode":45011,"errmsg":"api minute-quota reach limit, rid: demo"}';
        "~^busy([.]|\$)"       '{"errcode":-1,"errmsg":"system error, rid: demo"}';
        "~^badsecret([.]|\$)"  '{"errcode":40125,"errmsg":"invalid appsecret, rid: demo"}';
        "~^garbage([.]|\$)"    'this is not json';
        default    '{"session_key":"\$demo_session_key","openid":"\$demo_openid","unionid":"uDemo_union"}';
    }

    server {
        listen 127.0.0.1:$1;
        access_log $2;

        location = /sns/jscode2session {
            default_type text/plain;      # as WeChat sometimes labels its JSON
            return 200 '\$demo_wechat_answer';
        }
    }
CONF
}
