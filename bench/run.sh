#!/usr/bin/env bash
# The cost of ngx_http_wxauth_module, measured on this machine, loopback only, every case in one
# run. One nginx worker (Debian's nginx with the module loaded) serves every case:
#   plain     proxy_pass to an upstream answering "ok"                         (the ceiling)
#   wxauth    the same location with `wxauth on`: Redis asked on every request (one Redis)
#   cache     `wxauth on` with `wxauth_session_cache` (shared-memory cache, Redis-invalidated);
#             only when `nginx -t` accepts the directive with the built module
#   lua       access_by_lua_block (Debian's libnginx-mod-http-lua) doing the same check: a RESP GET
#             over a pooled cosocket (bench/lua/wxauth_bench.lua), identity set as request headers
#   authreq   auth_request to a small Node.js service checking the token in Redis
#   invalid   `wxauth on` with a well-formed but unknown token (Redis miss, 401)
#   sentinel  `wxauth on` with the Redis found through `wxauth_redis_sentinel` (a master and a
#             redis-sentinel of its own)
#   cluster   `wxauth on` through `wxauth_redis_cluster` (3 masters, redis-cli --cluster create);
#             only when `nginx -t` accepts the directive with the built module
#   standin   plain proxy_pass of a login-sized POST to the local WeChat stand-in (login ceiling)
#   login     `wxauth_login` against the same stand-in process (code2session, 2 Redis writes)
# wrk (1 thread, 64 connections) drives each case for DURATION seconds, ROUNDS times, the cases
# interleaved within every round (each round starting one case later) so that the machine's noise
# hits them alike. Reported per case:
# requests/s, p50/p99, the ratio to its reference (plain; standin for login; also single Redis for
# sentinel/cluster) in the same round, p99 added over the reference (medians over rounds), Redis
# commands per check (INFO commandstats), the CPU time the measured nginx worker spent per request
# (user + system, /proc/PID/stat; Redis, Node.js, the upstream and wrk are other processes, left
# out) and how much more than the reference's, the worker's RSS before and after RSS_REQUESTS
# authenticated requests, and a table of the goals of issue 9, met or not. Timings are reported,
# never asserted.
#
#   bench/run.sh                                 5 rounds x 7 s per case (about 10 minutes)
#   ROUNDS=1 DURATION=2 RSS_REQUESTS=100000 bench/run.sh      quick check that it works
#   CONNECTIONS=64 WXAUTH_SKIP_INSTALL=1 bench/run.sh
#   BENCH_CASES="plain wxauth sentinel" bench/run.sh             only these cases
#   BENCH_PERF_DIR=/tmp/prof bench/run.sh      also `perf record -g` of the worker during the first
#                                              measured run of each case: /tmp/prof/CASE.data
#                                              (its CPU numbers then include perf's own cost)
#                                              (BENCH_PERF_ARGS: perf record options, default -g)
#
# Every server (upstream nginx, WeChat stand-in nginx, measured nginx, redis-servers,
# redis-sentinel, the cluster's nodes, node) runs on free loopback ports in a scratch directory
# and is stopped by PID at the end, also on failure or Ctrl-C.
set -euo pipefail

. "$(dirname "$0")/../util/common.sh"
cd "$WXAUTH_ROOT"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-7}
CONNECTIONS=${CONNECTIONS:-64}
RSS_REQUESTS=${RSS_REQUESTS:-1000000}
ALL_CASES=(plain wxauth cache lua authreq invalid sentinel cluster standin login)
# BENCH_CASES: a subset, e.g. "plain wxauth sentinel" (plain and wxauth always run: references)
read -r -a CASES <<<"${BENCH_CASES:-${ALL_CASES[*]}}"
for c in "${CASES[@]}"; do
    [[ " ${ALL_CASES[*]} " == *" $c "* ]] || { echo "bench: unknown case '$c' (cases: ${ALL_CASES[*]})" >&2; exit 2; }
done
[[ " ${CASES[*]} " == *" wxauth "* ]] || CASES=(wxauth "${CASES[@]}")
[[ " ${CASES[*]} " == *" plain "* ]] || CASES=(plain "${CASES[@]}")
[[ " ${CASES[*]} " != *" login "* || " ${CASES[*]} " == *" standin "* ]] || CASES+=(standin)
LUA_PACKAGES=(libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core lua-cjson)
BENCH_PACKAGES=(wrk redis-sentinel redis-tools nodejs "${LUA_PACKAGES[@]}")
APPID=wx0123456789abcdef
CODE=bench                         # the stand-in answers it with openid oDemo_bench
OPENID=oDemo_bench
SENTINEL_MASTER=benchmaster

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing "${BENCH_PACKAGES[@]}"
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
wxauth_build >/dev/null
module=$WXAUTH_BUILD/ngx_http_wxauth_module.so

scratch=$(mktemp -d /tmp/wxauth-bench.XXXXXX)
chmod 755 "$scratch"
node_pid=
pidfiles=()     # every server started, stopped in reverse order
cleanup() {
    set +e
    trap '' INT TERM
    local i
    for ((i = ${#pidfiles[@]} - 1; i >= 0; i--)); do wxauth_stop_pidfile "${pidfiles[i]}"; done
    if [ -n "$node_pid" ]; then
        kill "$node_pid" 2>/dev/null
        wait "$node_pid" 2>/dev/null
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skipped=()      # "case: why", printed again with the report
skip_case() {   # $1: case, $2: why
    local c kept=()
    for c in "${CASES[@]}"; do [ "$c" = "$1" ] || kept+=("$c"); done
    CASES=("${kept[@]}")
    skipped+=("$1: $2")
    echo "bench: $1 skipped: $2" >&2
}
has_case() { local c; for c in "${CASES[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

common_conf() {   # $1: directory
    cat <<EOF
daemon on;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}

temp_paths() {   # $1: directory
    echo "    access_log off;"
    wxauth_nginx_temp_paths "$1"
}

start_nginx() {   # $1: directory (holding nginx.conf)
    pidfiles+=("$1/nginx.pid")
    /usr/sbin/nginx -e "$1/error.log" -p "$1/" -c "$1/nginx.conf"
}

# --- optional directives: a case runs only when `nginx -t` accepts its directive ---
probe_port=$(wxauth_free_port)
probe() {   # $1: directive, $2: server-level lines, $3: location-level lines; "" if accepted, else why
    local dir=$scratch/probe-$1 out
    mkdir -p "$dir"
    {
        echo "load_module $module;"
        common_conf "$dir"
        echo "http {"
        temp_paths "$dir"
        cat <<EOF
    server {
        listen 127.0.0.1:$probe_port;
$2
        location / {
            wxauth on;
$3
            return 204;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
    if out=$(/usr/sbin/nginx -t -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" 2>&1); then
        return 0
    fi
    if grep -q "unknown directive \"$1\"" - "$dir/error.log" <<<"$out" 2>/dev/null; then
        echo "the module has no $1"
    else
        echo "nginx -t refuses $1: $(grep -m1 -E 'emerg|error' <<<"$out" | sed 's/^nginx: //')"
    fi
}
why=
! has_case cache || why=$(probe wxauth_session_cache "        wxauth_redis 127.0.0.1:$probe_port;" \
          "            wxauth_session_cache zone=bench_probe:16m;") || true
[ -z "$why" ] || skip_case cache "$why"
read -r cl1 cl2 cl3 clb1 clb2 clb3 < <(wxauth_free_ports 6)   # client ports, cluster bus ports
cl_ports=("$cl1" "$cl2" "$cl3")
cl_bus=("$clb1" "$clb2" "$clb3")
why=
! has_case cluster || why=$(probe wxauth_redis_cluster "        wxauth_redis_cluster 127.0.0.1:$cl1 127.0.0.1:$cl2 127.0.0.1:$cl3;" "") || true
[ -z "$why" ] || skip_case cluster "$why"

# --- the Lua case: Debian's ngx_lua (and NDK, which it needs) must load into Debian's nginx ---
lua_modules=
lua_ok=0
lua_dir=$WXAUTH_ROOT/bench/lua
lua_so=/usr/lib/nginx/modules/ngx_http_lua_module.so
ndk_so=/usr/lib/nginx/modules/ndk_http_module.so
lua_why=
for p in "${LUA_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || lua_why="${lua_why:+$lua_why, }$p not installed"
done
[ -z "$lua_why" ] || lua_why="$lua_why (apt-get install ${LUA_PACKAGES[*]})"
if [ -z "$lua_why" ] && { [ ! -f "$lua_so" ] || [ ! -f "$ndk_so" ]; }; then
    lua_why="$ndk_so or $lua_so not found"
fi
if [ -z "$lua_why" ] && has_case lua; then
    # the modules must load, and the bench's Lua file must load in them (FFI symbols, cjson):
    # started for real, since `nginx -t` does not run init_by_lua
    mkdir -p "$scratch/luatest"
    {
        echo "load_module $ndk_so;"
        echo "load_module $lua_so;"
        echo "load_module $module;"
        common_conf "$scratch/luatest"
        echo "http {"
        temp_paths "$scratch/luatest"
        cat <<EOF
    lua_package_path "$lua_dir/?.lua;;";
    init_by_lua_block { require("wxauth_bench"); require("cjson.safe") }
}
EOF
    } >"$scratch/luatest/nginx.conf"
    if start_nginx "$scratch/luatest" >"$scratch/luatest/out" 2>&1; then
        for _ in $(seq 1 50); do [ -s "$scratch/luatest/nginx.pid" ] && break; sleep 0.1; done
        wxauth_stop_pidfile "$scratch/luatest/nginx.pid"
        lua_ok=1
        lua_modules="load_module $ndk_so;
load_module $lua_so;"
    else
        lua_why="Debian's nginx refuses the Lua module or bench/lua: $(cat "$scratch/luatest/out" "$scratch/luatest/error.log" 2>/dev/null \
            | grep -m1 -E 'emerg|error|alert')"
    fi
fi
[ "$lua_ok" = 1 ] || ! has_case lua || skip_case lua "$lua_why"

# --- the Node.js auth service's dependencies ---
node_ok=0
if command -v node >/dev/null && has_case authreq; then
    if [ -d bench/node/node_modules/redis ] \
        || { command -v npm >/dev/null \
             && (cd bench/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); }; then
        node_ok=1
    fi
fi
[ "$node_ok" = 1 ] || ! has_case authreq || skip_case authreq "node/npm missing or \`npm ci\` failed in bench/node (the npm registry must be reachable once)"

# --- the stores: one Redis (the checks), one Redis for the login case (its sessions expire
#     without touching the checks' Redis), a Sentinel-watched master, the cluster ---
redis_cli() { redis-cli -h 127.0.0.1 "$@"; }
mkdir -p "$scratch/redis" "$scratch/redis-login" "$scratch/redis-smaster"
pidfiles+=("$scratch/redis/redis.pid" "$scratch/redis-login/redis.pid" "$scratch/redis-smaster/redis.pid")
wxauth_start_redis "$scratch/redis"; redis_port=$WXAUTH_REDIS_PORT
wxauth_start_redis "$scratch/redis-login"; login_redis_port=$WXAUTH_REDIS_PORT

sentinel_port=
smaster_port=
if has_case sentinel; then
    wxauth_start_redis "$scratch/redis-smaster"; smaster_port=$WXAUTH_REDIS_PORT
    sentinel_port=$(wxauth_free_port)
    mkdir -p "$scratch/sentinel"
    cat >"$scratch/sentinel/sentinel.conf" <<EOF
bind 127.0.0.1
port $sentinel_port
daemonize yes
pidfile $scratch/sentinel/sentinel.pid
logfile $scratch/sentinel/sentinel.log
dir $scratch/sentinel
sentinel monitor $SENTINEL_MASTER 127.0.0.1 $smaster_port 1
sentinel down-after-milliseconds $SENTINEL_MASTER 5000
EOF
    pidfiles+=("$scratch/sentinel/sentinel.pid")
    if ! command -v redis-sentinel >/dev/null; then
        skip_case sentinel "redis-sentinel is missing (apt-get install redis-sentinel)"
    else
        redis-sentinel "$scratch/sentinel/sentinel.conf"
        ok=0
        for _ in $(seq 1 50); do
            [ "$(redis_cli -p "$sentinel_port" SENTINEL get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | tail -n 1)" = "$smaster_port" ] \
                && { ok=1; break; }
            sleep 0.1
        done
        [ "$ok" = 1 ] || skip_case sentinel "redis-sentinel did not name the master (see $scratch/sentinel/sentinel.log)"
    fi
fi

if has_case cluster; then
    for i in 0 1 2; do
        d=$scratch/cluster$i
        mkdir -p "$d"
        pidfiles+=("$d/redis.pid")
        redis-server --bind 127.0.0.1 --port "${cl_ports[i]}" --cluster-enabled yes --cluster-port "${cl_bus[i]}" \
            --cluster-config-file "$d/nodes.conf" --cluster-node-timeout 5000 --save '' \
            --appendonly no --dir "$d" --logfile "$d/redis.log" --daemonize yes --pidfile "$d/redis.pid"
    done
    for p in "$cl1" "$cl2" "$cl3"; do
        for _ in $(seq 1 50); do redis_cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    if redis_cli --cluster create "127.0.0.1:$cl1" "127.0.0.1:$cl2" "127.0.0.1:$cl3" --cluster-yes \
           >"$scratch/cluster-create.log" 2>&1; then
        ok=0
        for _ in $(seq 1 100); do
            n=0
            for p in "$cl1" "$cl2" "$cl3"; do
                redis_cli -p "$p" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' && n=$((n + 1))
            done
            [ "$n" = 3 ] && { ok=1; break; }
            sleep 0.1
        done
        [ "$ok" = 1 ] || skip_case cluster "the cluster did not reach cluster_state:ok"
    else
        skip_case cluster "redis-cli --cluster create failed: $(tail -n 1 "$scratch/cluster-create.log")"
    fi
fi

read -r up_port standin_port front_port login_port sentinel_front_port cluster_front_port node_port \
    cache_front_port < <(wxauth_free_ports 8)

# --- the upstream: its own nginx, one worker ---
mkdir -p "$scratch/up" "$scratch/standin" "$scratch/front"
{
    common_conf "$scratch/up"
    echo "http {"
    temp_paths "$scratch/up"
    cat <<EOF
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$up_port;
        # echoes the identity it was given (checked once before measuring; empty: no header)
        location / { default_type text/plain; add_header X-Seen-OpenID \$http_x_wx_openid; return 200 "ok"; }
    }
}
EOF
} >"$scratch/up/nginx.conf"

# --- the WeChat stand-in: its own nginx, one worker (util/common.sh's, as the demo uses) ---
{
    common_conf "$scratch/standin"
    echo "http {"
    temp_paths "$scratch/standin"
    echo "    keepalive_requests 1000000;"
    wxauth_standin_server "$standin_port" off
    echo "}"
} >"$scratch/standin/nginx.conf"

# --- the measured nginx: one worker, every case a location ---
code2session_location() {
    cat <<EOF
        location = /_wxauth/jscode2session {
            internal;
            proxy_pass http://wechat/sns/jscode2session;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream off;
            subrequest_output_buffer_size 16k;
            proxy_pass_request_headers off;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location = /wx/login { wxauth_login; }
EOF
}
check_location() {   # $1: name, $2: extra lines
    cat <<EOF
        location = /$1 {
            wxauth on;
$2
            proxy_set_header Connection "";
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-UnionID \$wxauth_unionid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_pass http://up;
        }
EOF
}
{
    [ -z "$lua_modules" ] || echo "$lua_modules"
    echo "load_module $module;"
    common_conf "$scratch/front"
    echo "http {"
    temp_paths "$scratch/front"
    cat <<EOF
    keepalive_requests 1000000;
    wxauth_appid $APPID;
    wxauth_secret benchsecret0123456789abcdef01234;
    wxauth_code2session /_wxauth/jscode2session;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
EOF
    if [ "$lua_ok" = 1 ]; then
        cat <<EOF
    lua_package_path "$lua_dir/?.lua;;";
    init_by_lua_block { require("wxauth_bench").configure("127.0.0.1", $redis_port) }
EOF
    fi
    cat <<EOF

    upstream up {
        server 127.0.0.1:$up_port;
        keepalive 64;
    }
    upstream auth_service {
        server 127.0.0.1:$node_port;
        keepalive 64;
    }
    # the WeChat stand-in, reused as examples/nginx.conf reuses connections to WeChat
    upstream wechat {
        server 127.0.0.1:$standin_port;
        keepalive 64;
    }

    # one Redis
    server {
        listen 127.0.0.1:$front_port;
        wxauth_redis 127.0.0.1:$redis_port;
$(code2session_location)

        location = /plain {
            proxy_pass http://up;
        }
$(check_location wxauth "")
EOF
    if [ "$lua_ok" = 1 ]; then
        cat <<'EOF'

        location = /lua {
            access_by_lua_block { require("wxauth_bench").access() }
            proxy_pass http://up;
        }
EOF
    fi
    cat <<EOF

        location = /authreq {
            auth_request /_auth;
            auth_request_set \$wx_openid \$upstream_http_x_wx_openid;
            auth_request_set \$wx_unionid \$upstream_http_x_wx_unionid;
            auth_request_set \$wx_appid \$upstream_http_x_wx_appid;
            proxy_set_header Connection "";
            proxy_set_header X-WX-OpenID \$wx_openid;
            proxy_set_header X-WX-UnionID \$wx_unionid;
            proxy_set_header X-WX-AppID \$wx_appid;
            proxy_pass http://up;
        }

        location = /_auth {
            internal;
            proxy_pass http://auth_service/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Connection "";
        }
    }

    # login throughput: its own Redis, sessions that expire soon (one per request)
    server {
        listen 127.0.0.1:$login_port;
        wxauth_redis 127.0.0.1:$login_redis_port;
$(code2session_location)

        location = /login {
            wxauth_login;
            wxauth_session_ttl 60s;
        }

        # the login ceiling: what nginx does for the WeChat exchange, without the module
        location = /standin {
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Connection "";
            proxy_pass http://wechat/sns/jscode2session?appid=$APPID&secret=benchsecret0123456789abcdef01234&js_code=$CODE&grant_type=authorization_code;
        }
    }
EOF
    if has_case cache; then
        # the cache turns on CLIENT TRACKING on its data connection, which costs Redis a little
        # on every read: its own connection (db 1 makes it another server), so that the
        # uncached case above measures Redis without tracking
        cat <<EOF

    # the session cache, Redis (db 1) asked on a miss
    server {
        listen 127.0.0.1:$cache_front_port;
        wxauth_redis 127.0.0.1:$redis_port db=1;
$(code2session_location)
$(check_location cache "            wxauth_session_cache zone=bench_cache:16m;")
    }
EOF
    fi
    if has_case sentinel; then
        cat <<EOF

    # the Redis named by a sentinel
    server {
        listen 127.0.0.1:$sentinel_front_port;
        wxauth_redis_sentinel $SENTINEL_MASTER 127.0.0.1:$sentinel_port;
$(code2session_location)
$(check_location wxauth "")
    }
EOF
    fi
    if has_case cluster; then
        cat <<EOF

    # Redis Cluster, 3 masters
    server {
        listen 127.0.0.1:$cluster_front_port;
        wxauth_redis_cluster 127.0.0.1:$cl1 127.0.0.1:$cl2 127.0.0.1:$cl3;
$(code2session_location)
$(check_location wxauth "")
    }
EOF
    fi
    echo "}"
} >"$scratch/front/nginx.conf"

start_nginx "$scratch/up"
start_nginx "$scratch/standin"
start_nginx "$scratch/front"

if [ "$node_ok" = 1 ]; then
    PORT=$node_port REDIS_PORT=$redis_port node bench/node/auth.js 2>"$scratch/node.log" &
    node_pid=$!
fi

base=http://127.0.0.1:$front_port

# --- a session in each store, made by the module's own login (so the key layout is its own) ---
login_token() {   # $1: port -> the token (empty if no login succeeded within 10 s)
    local i out
    for i in $(seq 1 100); do
        out=$(curl -s -H 'Content-Type: application/json' -d "{\"code\":\"$CODE\"}" \
                  "http://127.0.0.1:$1/wx/login" || true)
        if [[ $out =~ \"session\":\"([A-Za-z0-9_-]+)\" ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
        sleep 0.1
    done
    echo "bench: no login on port $1: ${out:-no answer}" >&2
    return 1
}
token=$(login_token "$front_port") || {
    echo "bench: the login through one Redis fails (see $scratch/front/error.log)" >&2
    tail -n 20 "$scratch/front/error.log" >&2
    exit 1
}
unknown=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
sentinel_token=
if has_case sentinel; then
    sentinel_token=$(login_token "$sentinel_front_port") \
        || skip_case sentinel "no login through wxauth_redis_sentinel ($(grep -m1 -E 'error|crit|alert' "$scratch/front/error.log" || true))"
fi
cache_token=
if has_case cache; then
    cache_token=$(login_token "$cache_front_port") \
        || skip_case cache "no login through the cache's server ($(grep -m1 -E 'error|crit|alert' "$scratch/front/error.log" || true))"
fi
cluster_token=
if has_case cluster; then
    cluster_token=$(login_token "$cluster_front_port") \
        || skip_case cluster "no login through wxauth_redis_cluster ($(grep -m1 -E 'error|crit|alert' "$scratch/front/error.log" || true))"
fi

cat >"$scratch/login.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"code":"$CODE"}'
wrk.headers["Content-Type"] = "application/json"
EOF

case_url() {
    case $1 in
        invalid) echo "$base/wxauth" ;;
        sentinel) echo "http://127.0.0.1:$sentinel_front_port/wxauth" ;;
        cache) echo "http://127.0.0.1:$cache_front_port/cache" ;;
        cluster) echo "http://127.0.0.1:$cluster_front_port/wxauth" ;;
        standin | login) echo "http://127.0.0.1:$login_port/$1" ;;
        *) echo "$base/$1" ;;
    esac
}
case_token() {
    case $1 in
        invalid) echo "$unknown" ;;
        sentinel) echo "$sentinel_token" ;;
        cache) echo "$cache_token" ;;
        cluster) echo "$cluster_token" ;;
        standin | login) ;;
        *) echo "$token" ;;
    esac
}
case_status() { case $1 in invalid) echo 401 ;; *) echo 200 ;; esac; }
case_args() {   # sets wrk_args: wrk's arguments of a case besides -t -c -d --latency
    case $1 in
        standin | login) wrk_args=(-s "$scratch/login.lua") ;;
        *) wrk_args=(-H "X-WX-Session: $(case_token "$1")") ;;   # wrk wants ": "
    esac
}
case_redis() {   # the Redis servers whose commands a check of the case costs (counted), or nothing
    case $1 in
        wxauth | cache) echo "$redis_port" ;;
        sentinel) echo "$smaster_port" ;;
        cluster) echo "$cl1 $cl2 $cl3" ;;
    esac
}

# --- before measuring: every case answers as it must; a checking case passes the identity (not
#     a client's) to the upstream and refuses an unknown token ---
curl_case() {   # $1: case, then curl's options -> the answer's headers and body on stdout
    local c=$1
    shift
    case $c in
        standin | login) curl -s -i -H 'Content-Type: application/json' -d "{\"code\":\"$CODE\"}" "$@" "$(case_url "$c")" ;;
        *) curl -s -i -H "X-WX-Session: $(case_token "$c")" "$@" "$(case_url "$c")" ;;
    esac
}
verify_case() {   # $1: case -> "" when it answers right, else why
    local c=$1 out code seen i
    for i in $(seq 1 50); do
        out=$(curl_case "$c" -H "X-WX-OpenID: spoofed" | tr -d '\r' || true)
        code=$(awk 'NR == 1 { print $2 }' <<<"$out")
        [ "$code" = "$(case_status "$c")" ] && break
        sleep 0.1
    done
    [ "$code" = "$(case_status "$c")" ] || { echo "answers ${code:-nothing}, not $(case_status "$c"): $(tail -n 1 <<<"$out")"; return; }
    case $c in
        wxauth | cache | lua | authreq | sentinel | cluster)
            seen=$(awk -F': ' 'tolower($1) == "x-seen-openid" { print $2 }' <<<"$out")
            [ "$seen" = "$OPENID" ] || { echo "passed the upstream X-WX-OpenID '$seen', not $OPENID"; return; }
            code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-WX-Session: $unknown" "$(case_url "$c")" || true)
            [ "$code" = 401 ] || { echo "answers $code, not 401, to an unknown token"; return; } ;;
        standin) grep -q "\"openid\":\"$OPENID\"" <<<"$out" || { echo "the stand-in's answer has no openid: $(tail -n 1 <<<"$out")"; return; } ;;
        login) grep -q '"session":"' <<<"$out" || { echo "the login's answer has no session: $(tail -n 1 <<<"$out")"; return; } ;;
    esac
}
for c in "${CASES[@]}"; do
    why=$(verify_case "$c")
    [ -z "$why" ] && continue
    case $c in
        plain | wxauth | invalid | standin | login)
            echo "bench: $c $why (see $scratch)" >&2
            tail -n 20 "$scratch/front/error.log" >&2
            exit 1 ;;
        *) skip_case "$c" "$why" ;;
    esac
done

# --- measure ---
results=$scratch/results.tsv   # round case rps p50 p99 bad requests redis_commands worker_cpu_us
: >"$results"

to_ms() {   # wrk latency ("812.00us", "1.20ms", "1.01s") -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.3f", n }'
}

redis_calls() {   # $1: ports -> the commands these Redis servers executed so far, INFO itself left out
    local p
    for p in $1; do redis_cli -p "$p" INFO commandstats; done \
        | awk -F'[:=,]' '/^cmdstat_/ && $1 != "cmdstat_info" { s += $3 } END { print s + 0 }'
}

front_worker() {   # -> the PID of the measured nginx's one worker
    ps -o pid= --ppid "$(cat "$scratch/front/nginx.pid")" | head -n 1 | tr -d ' '
}

worker_ticks() {   # $1: PID -> user + system CPU time it used so far, in clock ticks
    # (/proc/PID/stat: fields 14 and 15, counted after the command name in parentheses)
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
clock_ticks=$(getconf CLK_TCK)

run_wrk() {   # $1: case, $2: seconds, $3: set for measured runs -> "rps p50 p99 bad requests redis_commands worker_cpu_us_per_request"
    local out rps p50 p99 non2xx errors bad total rp before=0 after=0 worker t0 t1 cpu
    rp=$(case_redis "$1")
    [ -z "$rp" ] || before=$(redis_calls "$rp")
    case_args "$1"
    worker=$(front_worker)
    t0=$(worker_ticks "$worker")
    local perf_pid=
    if [ -n "${BENCH_PERF_DIR:-}" ] && [ -n "${3:-}" ] && [ ! -e "$BENCH_PERF_DIR/$1.data" ]; then
        # the first measured run of each case: a call-graph profile of the worker
        perf record -q ${BENCH_PERF_ARGS:--g} -p "$worker" -o "$BENCH_PERF_DIR/$1.data" -- sleep "$2" \
            >/dev/null 2>&1 &
        perf_pid=$!
    fi
    out=$(timeout $(($2 + 30)) wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency "${wrk_args[@]}" \
              "$(case_url "$1")") || true
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    t1=$(worker_ticks "$worker")
    [ -z "$rp" ] || after=$(redis_calls "$rp")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    errors=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i; print s }' <<<"$out")
    total=$(awk '/requests in/ { print $1 }' <<<"$out")
    if [ "$(case_status "$1")" = 200 ]; then
        bad=$(( ${non2xx:-0} + ${errors:-0} ))
    else
        bad=$(( ${total:-0} - ${non2xx:-0} + ${errors:-0} ))
    fi
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$clock_ticks" -v n="${total:-0}" \
              'BEGIN { if (n > 0) printf "%.2f", d * 1000000 / hz / n; else print "-" }')
    echo "${rps:-0} $p50 $p99 $bad ${total:-0} $([ -z "$rp" ] && echo - || echo $((after - before))) $cpu"
}

worker_rss() {   # -> VmRSS of the measured nginx's worker, in kB
    local worker
    worker=$(front_worker)
    awk '/^VmRSS:/ { print $2 }' "/proc/$worker/status"
}

load_before=$(cut -d" " -f1-3 /proc/loadavg)
started=$(date +%s)
wxauth_log "warming up (1 s per case)"
for c in "${CASES[@]}"; do run_wrk "$c" 1 >/dev/null; done

wxauth_log "measuring: ${#CASES[@]} cases (${CASES[*]}) x $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNECTIONS, one nginx worker"
for r in $(seq 1 "$ROUNDS"); do
    # every round starts one case later, so that no case always follows the same one
    n=${#CASES[@]}
    for ((k = 0; k < n; k++)); do
        c=${CASES[(k + r - 1) % n]}
        read -r rps p50 p99 bad total cmds cpu < <(run_wrk "$c" "$DURATION" measured)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$rps" "$p50" "$p99" "$bad" "$total" "$cmds" "$cpu" >>"$results"
        printf '  round %s  %-8s %9s req/s  p50 %7s ms  p99 %7s ms  worker CPU %6s us/request%s%s\n' "$r" "$c" "$rps" "$p50" "$p99" "$cpu" \
            "$([ "$cmds" = - ] || [ "${total:-0}" = 0 ] || awk -v c="$cmds" -v n="$total" 'BEGIN { printf "  %.3f Redis commands/check", c / n }')" \
            "$([ "$bad" = 0 ] || echo "  ($bad unexpected answers or socket errors)")"
    done
done

# --- the worker's memory over RSS_REQUESTS authenticated requests (after all rounds: warm) ---
memory=$scratch/memory.tsv   # case requests rss_before_kB rss_after_kB
: >"$memory"
for c in wxauth cache; do
    has_case "$c" || continue
    rps=$(awk -F'\t' -v c="$c" '$2 == c { s += $3; n++ } END { print (n ? s / n : 10000) }' "$results")
    wxauth_log "worker memory: $RSS_REQUESTS requests of $c (about $(awk -v n="$RSS_REQUESTS" -v r="$rps" 'BEGIN { printf "%d", n / r + 1 }') s)"
    rss_before=$(worker_rss)
    done_requests=0
    while [ "$done_requests" -lt "$RSS_REQUESTS" ]; do
        secs=$(awk -v n=$((RSS_REQUESTS - done_requests)) -v r="$rps" 'BEGIN { s = int(n / r) + 1; print (s > 60 ? 60 : s) }')
        read -r _ _ _ bad total _ _ < <(run_wrk "$c" "$secs")
        [ "${total:-0}" -gt 0 ] || { echo "bench: wrk made no request of $c" >&2; break; }
        [ "$bad" = 0 ] || echo "bench: $bad unexpected answers during the memory run of $c" >&2
        done_requests=$((done_requests + total))
    done
    rss_after=$(worker_rss)
    printf '%s\t%s\t%s\t%s\n' "$c" "$done_requests" "$rss_before" "$rss_after" >>"$memory"
done
elapsed=$(( $(date +%s) - started ))

# --- report ---
echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); $(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //'); redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'); node $(node --version 2>/dev/null || echo -); $([ "$lua_ok" = 0 ] || echo "ngx_lua $(dpkg-query -W -f='${Version}' libnginx-mod-http-lua), luajit2 $(dpkg-query -W -f='${Version}' libluajit2-5.1-2); ")$(wrk --version 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
echo "wrk -t1 -c$CONNECTIONS, $ROUNDS rounds x ${DURATION}s per case, interleaved (each round starting one case later); medians over the rounds; load average at the start: $load_before, at the end: $(cut -d" " -f1-3 /proc/loadavg); measured for ${elapsed}s"
for s in "${skipped[@]}"; do echo "skipped: $s"; done
echo
awk -F'\t' -v cases="${CASES[*]}" -v memfile="$memory" -v rssn="$RSS_REQUESTS" '
    function median(a, n,    i, j, t) {
        if (n == 0) return ""
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function have(c) { return (c in present) }
    # per round: x / y of requests/s (ratio) or x - y of p99 (added); median, min, max
    function stat(x, y, kind,    r, n, v, lo, hi) {
        n = 0; lo = ""; hi = ""
        for (r = 1; r <= rounds; r++) {
            if (!((x, r) in rps) || !((y, r) in rps)) continue
            if (kind == "ratio") { if (rps[y, r] + 0 == 0) continue; v = rps[x, r] / rps[y, r] }
            else if (kind == "cpu") { if (cpu[x, r] == "-" || cpu[y, r] == "-") continue; v = cpu[x, r] - cpu[y, r] }
            else v = p99[x, r] - p99[y, r]
            vals[++n] = v
            if (lo == "" || v < lo) lo = v
            if (hi == "" || v > hi) hi = v
        }
        smin = lo; smax = hi
        return median(vals, n)
    }
    function med(arr, c,    r, n) { n = 0; for (r = 1; r <= rounds; r++) if ((c, r) in arr && arr[c, r] != "-") v2[++n] = arr[c, r]; return median(v2, n) }
    function cmds_per_check(c,    r, n) {
        n = 0
        for (r = 1; r <= rounds; r++) if ((c, r) in cmds && cmds[c, r] != "-" && total[c, r] > 0) v3[++n] = cmds[c, r] / total[c, r]
        return median(v3, n)
    }
    function fmt(v, f) { return v == "" ? "-" : sprintf(f, v) }
    function goal(name, v, op, target, f, unit, why,    ok) {
        if (v == "") { printf "| %s | - | %s %s%s | not measured%s |\n", name, op, target, unit, why ? " (" why ")" : ""; return }
        ok = (op == ">=") ? (v >= target) : (v < target)
        printf "| %s | " f "%s | %s %s%s | %s |\n", name, v, unit, op, target, unit, ok ? "met" : "not met"
    }
    {
        rps[$2, $1] = $3; p50[$2, $1] = $4; p99[$2, $1] = $5; bad[$2] += $6; total[$2, $1] = $7; cmds[$2, $1] = $8
        cpu[$2, $1] = $9 == "" ? "-" : $9
        present[$2] = 1
        if ($1 > rounds) rounds = $1
    }
    END {
        n = split(cases, cs, " ")
        desc["plain"] = "plain proxy_pass (ceiling)"
        desc["wxauth"] = "wxauth on, one Redis, asked on every request"
        desc["cache"] = "wxauth on + wxauth_session_cache"
        desc["lua"] = "access_by_lua + RESP GET (pooled cosocket)"
        desc["authreq"] = "auth_request -> Node.js + Redis"
        desc["invalid"] = "wxauth on, unknown token (401)"
        desc["sentinel"] = "wxauth on, Redis through Sentinel"
        desc["cluster"] = "wxauth on, Redis Cluster (3 masters)"
        desc["standin"] = "plain proxy_pass of the WeChat stand-in (login ceiling)"
        desc["login"] = "wxauth_login against the same stand-in"
        ref["login"] = "standin"

        print "### Checks (reference: plain, same round)"
        print ""
        print "| case | requests/s | ratio to plain | p50 ms | p99 ms | p99 added ms | Redis commands/check | worker CPU us/request | CPU added us |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (k = 1; k <= n; k++) {
            c = cs[k]
            if (c == "standin" || c == "login" || !have(c)) continue
            q = stat(c, "plain", "ratio"); qlo = smin; qhi = smax
            d = stat(c, "plain", "p99")
            e = stat(c, "plain", "cpu")
            printf "| %s | %.0f | %s%s | %s | %s | %s | %s | %s | %s |%s\n", desc[c], med(rps, c), fmt(q, "%.2f"),
                (rounds > 1 && c != "plain") ? sprintf(" (%.2f-%.2f)", qlo, qhi) : "",
                fmt(med(p50, c), "%.2f"), fmt(med(p99, c), "%.2f"), c == "plain" ? "-" : fmt(d, "%+.2f"),
                fmt(cmds_per_check(c), "%.3f"), fmt(med(cpu, c), "%.1f"), c == "plain" ? "-" : fmt(e, "%+.1f"),
                bad[c] ? " (" bad[c] " unexpected answers)" : ""
        }
        if (have("login") || have("standin")) {
        print ""
        print "### Login (reference: plain proxying of the same stand-in, same round)"
        print ""
        print "| case | requests/s | ratio to stand-in | p50 ms | p99 ms | p99 added ms | worker CPU us/request | CPU added us |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|"
        }
        for (k = 1; k <= n; k++) {
            c = cs[k]
            if ((c != "standin" && c != "login") || !have(c)) continue
            q = stat(c, "standin", "ratio"); qlo = smin; qhi = smax
            d = stat(c, "standin", "p99")
            e = stat(c, "standin", "cpu")
            printf "| %s | %.0f | %s%s | %s | %s | %s | %s | %s |%s\n", desc[c], med(rps, c), fmt(q, "%.2f"),
                (rounds > 1 && c != "standin") ? sprintf(" (%.2f-%.2f)", qlo, qhi) : "",
                fmt(med(p50, c), "%.2f"), fmt(med(p99, c), "%.2f"), c == "standin" ? "-" : fmt(d, "%+.2f"),
                fmt(med(cpu, c), "%.1f"), c == "standin" ? "-" : fmt(e, "%+.1f"),
                bad[c] ? " (" bad[c] " unexpected answers)" : ""
        }
        print ""
        print "### Ratios within a round (median, and the range over the rounds)"
        print ""
        print "| ratio | median | range |"
        print "|---|---:|---:|"
        split("wxauth/plain cache/plain wxauth/lua cache/wxauth sentinel/wxauth cluster/wxauth login/standin", pairs, " ")
        for (k = 1; k in pairs; k++) {
            split(pairs[k], xy, "/")
            if (!have(xy[1]) || !have(xy[2])) continue
            q = stat(xy[1], xy[2], "ratio")
            printf "| %s / %s | %s | %s |\n", xy[1], xy[2], fmt(q, "%.2f"), (rounds > 1) ? sprintf("%.2f-%.2f", smin, smax) : "-"
        }
        print ""
        print "### Requests/s in each round"
        print ""
        line = "| round |"; sep = "|---:|"
        for (k = 1; k <= n; k++) { line = line " " cs[k] " |"; sep = sep "---:|" }
        print line; print sep
        for (r = 1; r <= rounds; r++) {
            line = "| " r " |"
            for (k = 1; k <= n; k++) line = line " " sprintf("%.0f", rps[cs[k], r]) " |"
            print line
        }
        print ""
        print "### Worker memory (VmRSS of the one worker, after the rounds, before and after the requests)"
        print ""
        print "| case | requests | RSS before kB | RSS after kB | growth kB |"
        print "|---|---:|---:|---:|---:|"
        growth = ""
        while ((getline l < memfile) > 0) {
            split(l, m, "\t")
            printf "| %s | %d | %d | %d | %+d |\n", m[1], m[2], m[3], m[4], m[4] - m[3]
            if (growth == "" || m[4] - m[3] > growth) growth = m[4] - m[3]
        }
        print ""
        print "### Goals of issue 9"
        print ""
        print "| goal | measured | target | |"
        print "|---|---:|---:|---|"
        goal("Redis on every request: ratio to the ceiling", have("wxauth") ? stat("wxauth", "plain", "ratio") : "", ">=", "0.85", "%.2f", "")
        goal("Redis on every request: times the OpenResty peer", have("lua") ? stat("wxauth", "lua", "ratio") : "", ">=", "2", "%.2f", "x", have("lua") ? "" : "lua not run")
        goal("With the cache: ratio to the ceiling", have("cache") ? stat("cache", "plain", "ratio") : "", ">=", "0.97", "%.2f", "", have("cache") ? "" : "cache not run")
        goal("p99 added over the ceiling, uncached", have("wxauth") ? stat("wxauth", "plain", "p99") : "", "<", "0.3", "%+.2f", " ms")
        goal("p99 added over the ceiling, cached", have("cache") ? stat("cache", "plain", "p99") : "", "<", "0.1", "%+.2f", " ms", have("cache") ? "" : "cache not run")
        goal("Login: ratio to plain proxying of the stand-in", have("login") && have("standin") ? stat("login", "standin", "ratio") : "", ">=", "0.8", "%.2f", "", have("login") ? "" : "login not run")
        goal("Cluster: ratio to one Redis", have("cluster") ? stat("cluster", "wxauth", "ratio") : "", ">=", "0.95", "%.2f", "", have("cluster") ? "" : "cluster not run")
        goal(sprintf("Worker memory growth over %d requests", rssn), growth == "" ? "" : growth / 1024, "<", "1", "%+.2f", " MB")
    }' "$results"
