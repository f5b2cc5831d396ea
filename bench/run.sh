#!/usr/bin/env bash
# Throughput of a session check in front of an upstream, measured on this machine, loopback only.
# In the same run, one nginx worker (Debian's nginx with the module loaded) serves:
#   plain    proxy_pass to an upstream answering "ok"                       (the ceiling)
#   wxauth   the same location with `wxauth on` and a valid token in Redis
#   lua      access_by_lua_block (Debian's libnginx-mod-http-lua) doing the same check: a RESP GET
#            over a pooled cosocket (bench/lua/wxauth_bench.lua), identity set as request headers
#   authreq  auth_request to a small Node.js service checking the token in Redis
#   invalid  `wxauth on` with a well-formed but unknown token (Redis miss, 401)
# wrk (1 thread, 64 connections) drives each case for DURATION seconds, ROUNDS times, the cases
# interleaved within every round so that the machine's noise hits them alike. Reported: requests/s
# (median of the rounds), latency, and the ratio to `plain` of the same round (median). Timings
# are reported, never asserted.
#
#   bench/run.sh                        3 rounds x 5 s per case
#   ROUNDS=5 DURATION=10 bench/run.sh
#   CONNECTIONS=64 WXAUTH_SKIP_INSTALL=1 bench/run.sh
#
# The upstream runs in a separate nginx (one worker) so that the measured worker does only the
# proxying and the check. Node's dependencies are installed from bench/node/package-lock.json
# into bench/node/node_modules; without them the authreq case is skipped, with a message. The
# lua case needs Debian's libnginx-mod-http-lua, libnginx-mod-http-ndk, lua-resty-core and
# lua-cjson; if they are missing or the Lua module does not load into /usr/sbin/nginx, it is
# skipped, with a message.
set -euo pipefail

. "$(dirname "$0")/../util/common.sh"
cd "$WXAUTH_ROOT"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
CASES=(plain wxauth lua authreq invalid)
LUA_PACKAGES=(libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core lua-cjson)

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing wrk "${LUA_PACKAGES[@]}"
command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk)" >&2; exit 1; }
wxauth_build >/dev/null
module=$WXAUTH_BUILD/ngx_http_wxauth_module.so

scratch=$(mktemp -d /tmp/wxauth-bench.XXXXXX)
chmod 755 "$scratch"
node_pid=
cleanup() {
    set +e
    trap '' INT TERM
    wxauth_stop_pidfile "$scratch/luatest/nginx.pid"
    wxauth_stop_pidfile "$scratch/front/nginx.pid"
    wxauth_stop_pidfile "$scratch/up/nginx.pid"
    if [ -n "$node_pid" ]; then
        kill "$node_pid" 2>/dev/null
        wait "$node_pid" 2>/dev/null
    fi
    wxauth_stop_pidfile "$scratch/redis/redis.pid"
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

drop_case() { local c kept=(); for c in "${CASES[@]}"; do [ "$c" = "$1" ] || kept+=("$c"); done; CASES=("${kept[@]}"); }

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
if [ -z "$lua_why" ]; then
    # the modules must load, and the bench's Lua file must load in them (FFI symbols, cjson):
    # started for real, since `nginx -t` does not run init_by_lua
    mkdir -p "$scratch/luatest"
    cat >"$scratch/luatest/nginx.conf" <<EOF
load_module $ndk_so;
load_module $lua_so;
load_module $module;
daemon on;
worker_processes 1;
pid $scratch/luatest/nginx.pid;
error_log $scratch/luatest/error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path $scratch/luatest/body;
    proxy_temp_path $scratch/luatest/proxy;
    fastcgi_temp_path $scratch/luatest/fastcgi;
    uwsgi_temp_path $scratch/luatest/uwsgi;
    scgi_temp_path $scratch/luatest/scgi;
    lua_package_path "$lua_dir/?.lua;;";
    init_by_lua_block { require("wxauth_bench"); require("cjson.safe") }
}
EOF
    if /usr/sbin/nginx -e "$scratch/luatest/error.log" -p "$scratch/luatest/" -c "$scratch/luatest/nginx.conf" \
           >"$scratch/luatest/out" 2>&1; then
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
if [ "$lua_ok" = 0 ]; then
    echo "bench: SKIPPING lua: $lua_why" >&2
    drop_case lua
fi

# --- the Node.js auth service's dependencies ---
node_ok=0
if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ -d bench/node/node_modules/redis ] \
        || (cd bench/node && timeout 300 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
        node_ok=1
    fi
fi
if [ "$node_ok" = 0 ]; then
    echo "bench: SKIPPING authreq: node/npm missing or \`npm ci\` failed in bench/node" \
         "(the npm registry must be reachable once)" >&2
    drop_case authreq
fi

# --- Redis and a valid session ---
wxauth_start_redis "$scratch/redis"
token=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
unknown=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
key="wxauth:s:$(printf %s "$token" | sha256sum | cut -d' ' -f1)"
redis-cli -p "$WXAUTH_REDIS_PORT" SET "$key" \
    "{\"v\":1,\"openid\":\"oBenchUser\",\"session_key\":\"HyVFkGl5F5OQWJZZaNzBBg==\",\"appid\":\"wxbench\",\"iat\":$(date +%s)}" \
    EX 3600 >/dev/null

up_port=$(wxauth_free_port)
front_port=$(wxauth_free_port)
node_port=$(wxauth_free_port)

common_conf() {   # $1: directory
    cat <<EOF
daemon on;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
EOF
}

temp_paths() {
    cat <<EOF
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

# --- the upstream: its own nginx, one worker ---
mkdir -p "$scratch/up" "$scratch/front"
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

# --- the measured nginx: one worker, every case a location ---
{
    [ -z "$lua_modules" ] || echo "$lua_modules"
    echo "load_module $module;"
    common_conf "$scratch/front"
    echo "http {"
    temp_paths "$scratch/front"
    cat <<EOF
    keepalive_requests 1000000;
    wxauth_redis 127.0.0.1:$WXAUTH_REDIS_PORT;
EOF
    if [ "$lua_ok" = 1 ]; then
        cat <<EOF
    lua_package_path "$lua_dir/?.lua;;";
    init_by_lua_block { require("wxauth_bench").configure("127.0.0.1", $WXAUTH_REDIS_PORT) }
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

    server {
        listen 127.0.0.1:$front_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location = /plain {
            proxy_pass http://up;
        }

        location = /wxauth {
            wxauth on;
            proxy_set_header Connection "";
            proxy_set_header X-WX-OpenID \$wxauth_openid;
            proxy_set_header X-WX-UnionID \$wxauth_unionid;
            proxy_set_header X-WX-AppID \$wxauth_appid;
            proxy_pass http://up;
        }
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
}
EOF
} >"$scratch/front/nginx.conf"

/usr/sbin/nginx -e stderr -p "$scratch/up/" -c "$scratch/up/nginx.conf"
/usr/sbin/nginx -e stderr -p "$scratch/front/" -c "$scratch/front/nginx.conf"

if [ "$node_ok" = 1 ]; then
    PORT=$node_port REDIS_PORT=$WXAUTH_REDIS_PORT node bench/node/auth.js 2>"$scratch/node.log" &
    node_pid=$!
fi

base=http://127.0.0.1:$front_port
wait_for() {   # $1: case, $2: expected status
    local i code
    for i in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-WX-Session: $(case_token "$1")" "$base$(case_path "$1")" || true)
        [ "$code" = "$2" ] && return 0
        sleep 0.1
    done
    echo "bench: $1 answers $code, not $2 (see $scratch)" >&2
    cat "$scratch/front/error.log" "$scratch/node.log" 2>/dev/null | tail -n 20 >&2
    return 1
}
case_path() { case $1 in invalid) echo /wxauth ;; *) echo "/$1" ;; esac; }
case_token() { case $1 in invalid) echo "$unknown" ;; *) echo "$token" ;; esac; }
case_status() { case $1 in invalid) echo 401 ;; *) echo 200 ;; esac; }

# every checking case must pass the identity (not a client's) to the upstream, and refuse an
# unknown token
for c in "${CASES[@]}"; do
    wait_for "$c" "$(case_status "$c")"
    case $c in wxauth | lua | authreq)
        seen=$(curl -s -o /dev/null -D - -H "X-WX-Session: $token" -H "X-WX-OpenID: spoofed" "$base/$c" \
                   | tr -d '\r' | awk -F': ' 'tolower($1) == "x-seen-openid" { print $2 }' || true)
        [ "$seen" = oBenchUser ] \
            || { echo "bench: $c passed the upstream X-WX-OpenID '$seen', not oBenchUser" >&2; exit 1; }
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-WX-Session: $unknown" "$base/$c" || true)
        [ "$code" = 401 ] || { echo "bench: $c answers $code, not 401, to an unknown token" >&2; exit 1; }
    esac
done

# --- measure ---
results=$scratch/results.tsv   # round case rps p50 p99 errors
: >"$results"

to_ms() {   # wrk latency ("812.00us", "1.20ms", "1.01s") -> milliseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.2f", n }'
}

run_wrk() {   # $1: case, $2: seconds -> "rps p50 p99 bad" (bad: answers of the wrong kind)
    local out rps p50 p99 non2xx errors bad
    out=$(timeout $(($2 + 30)) wrk -t1 -c"$CONNECTIONS" -d"${2}s" --latency \
              -H "X-WX-Session: $(case_token "$1")" "$base$(case_path "$1")") || true
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
    echo "$rps $p50 $p99 $bad"
}

load_before=$(cut -d" " -f1-3 /proc/loadavg)
wxauth_log "warming up (1 s per case)"
for c in "${CASES[@]}"; do run_wrk "$c" 1 >/dev/null; done

wxauth_log "measuring: ${#CASES[@]} cases x $ROUNDS rounds x ${DURATION}s, wrk -t1 -c$CONNECTIONS, one nginx worker"
for r in $(seq 1 "$ROUNDS"); do
    for c in "${CASES[@]}"; do
        read -r rps p50 p99 bad < <(run_wrk "$c" "$DURATION")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$rps" "$p50" "$p99" "$bad" >>"$results"
        printf '  round %s  %-8s %10s req/s  p50 %6s ms  p99 %6s ms%s\n' "$r" "$c" "$rps" "$p50" "$p99" \
            "$([ "$bad" = 0 ] || echo "  ($bad unexpected answers or socket errors)")"
    done
done

# --- report ---
echo
echo "Machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); $(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //'); redis $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'); node $(node --version 2>/dev/null || echo -); $([ "$lua_ok" = 0 ] || echo "ngx_lua $(dpkg-query -W -f='${Version}' libnginx-mod-http-lua), luajit2 $(dpkg-query -W -f='${Version}' libluajit2-5.1-2); ")$(wrk --version 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
echo "wrk -t1 -c$CONNECTIONS, $ROUNDS rounds x ${DURATION}s per case, interleaved; medians over the rounds; load average at the start: $load_before"
echo
awk -F'\t' -v cases="${CASES[*]}" '
    function median(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { rps[$2, $1] = $3; p50[$2, $1] = $4; p99[$2, $1] = $5; bad[$2] += $6; if ($1 > rounds) rounds = $1 }
    END {
        split(cases, cs, " ")
        desc["plain"] = "plain proxy_pass (ceiling)"
        desc["wxauth"] = "wxauth on, valid token (Redis lookup)"
        desc["lua"] = "access_by_lua + RESP GET (pooled cosocket)"
        desc["authreq"] = "auth_request -> Node.js + Redis"
        desc["invalid"] = "wxauth on, unknown token (401)"
        print "| case | requests/s | ratio to plain | p50 ms | p99 ms |"
        print "|---|---:|---:|---:|---:|"
        for (k = 1; k in cs; k++) {
            c = cs[k]
            for (r = 1; r <= rounds; r++) { a[r] = rps[c, r]; q[r] = rps[c, r] / rps["plain", r]; l[r] = p50[c, r]; m[r] = p99[c, r] }
            mr = median(a, rounds); mq = median(q, rounds); ml = median(l, rounds); mm = median(m, rounds)
            printf "| %s | %.0f | %.2f | %.2f | %.2f |%s\n", desc[c], mr, mq, ml, mm, bad[c] ? " (" bad[c] " unexpected answers)" : ""
        }
    }' "$results"
