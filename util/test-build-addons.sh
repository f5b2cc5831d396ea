#!/usr/bin/env bash
# Builds ngx_http_wxauth_module next to another dynamic addon in one nginx tree, loads both
# into Debian's nginx, and checks that configure stops with a clear message when a library
# is missing.
#
#   util/test-build-addons.sh [--fresh]
#
# 1. A tiny C addon (its own config, src/ngx_http_tiny_module.c: a `tiny_hello TEXT;` content
#    handler) is written to the work directory. Its objects land in objs/addon/src/, like ours.
# 2. A copy of Debian's nginx-dev tree (NGINX_SRC_DIR, default /usr/share/nginx/src) is
#    configured with its conf_flags plus --add-dynamic-module=<tiny> --add-dynamic-module=<us>
#    (the tiny one first) and `make modules` builds both .so files.
# 3. /usr/sbin/nginx (TEST_NGINX_BINARY) runs a configuration with both load_module lines on a
#    free loopback port: `nginx -t`, then curl checks that the tiny module answers and that a
#    wxauth_metrics location answers.
# 4. For each of hiredis, cJSON and libcrypto, configure runs (--with-compat only) with a
#    compiler include path where that library's header is replaced by an `#error` one; it must
#    fail with "ngx_http_wxauth_module requires ..." naming the Debian package.
#
# 5. configure for a static build (--add-module=): the module initialises after nginx's own
#    header and write filters, so that its refusal filter stays in the chain.
#
# The tree of step 2 is kept in $WXAUTH_BUILD/addons and only reconfigured when config,
# config.make, src/sources.list, this script or the nginx tree's conf_flags changed (--fresh:
# always); make rebuilds what changed. Step 4 runs again whenever step 2 reconfigures.
# Everything else is in a temporary directory, removed on exit.
set -euo pipefail

. "$(dirname "$0")/common.sh"

src=${NGINX_SRC_DIR:-/usr/share/nginx/src}
nginx_bin=${TEST_NGINX_BINARY:-/usr/sbin/nginx}
work=$WXAUTH_BUILD/addons
tmp=$(mktemp -d /tmp/wxauth-addons.XXXXXX)
nginx_pid=

cleanup() {
    if [ -n "$nginx_pid" ]; then
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() { echo "test-build-addons: FAIL: $*" >&2; exit 1; }

[ -f "$src/auto/configure" ] || [ -x "$src/configure" ] \
    || fail "no nginx source tree at $src (Debian: nginx-dev)"

flags=(--with-compat)
if [ -f "$src/conf_flags" ]; then
    # shellcheck disable=SC1091
    . "$src/conf_flags"
    flags=("${NGX_CONF_FLAGS[@]}")
fi

# --- 1. the tiny C addon -----------------------------------------------------------------
tiny=$work/tiny
write_tiny_addon() {
    rm -rf "$tiny"
    mkdir -p "$tiny/src"
    cat > "$tiny/config" << 'END'
ngx_addon_name=ngx_http_tiny_module
ngx_module_type=HTTP
ngx_module_name=ngx_http_tiny_module
ngx_module_srcs="$ngx_addon_dir/src/ngx_http_tiny_module.c"
. auto/module
END
    cat > "$tiny/src/ngx_http_tiny_module.c" << 'END'
/* A tiny C addon for util/test-build-addons.sh: `tiny_hello TEXT;` answers TEXT. */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

typedef struct {
    ngx_str_t  text;
} ngx_http_tiny_loc_conf_t;

static char *ngx_http_tiny_hello(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static void *ngx_http_tiny_create_loc_conf(ngx_conf_t *cf);

static ngx_command_t ngx_http_tiny_commands[] = {
    { ngx_string("tiny_hello"), NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, ngx_http_tiny_hello,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
    ngx_null_command
};

static ngx_http_module_t ngx_http_tiny_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, ngx_http_tiny_create_loc_conf, NULL
};

ngx_module_t ngx_http_tiny_module = {
    NGX_MODULE_V1, &ngx_http_tiny_module_ctx, ngx_http_tiny_commands, NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NGX_MODULE_V1_PADDING
};

static ngx_int_t
ngx_http_tiny_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_tiny_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tiny_module);
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    b = ngx_create_temp_buf(r->pool, tlcf->text.len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->last, tlcf->text.data, tlcf->text.len);
    *b->last++ = '\n';
    b->last_buf = 1;
    out.buf = b;
    out.next = NULL;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    return ngx_http_output_filter(r, &out);
}

static char *
ngx_http_tiny_hello(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tiny_loc_conf_t  *tlcf = conf;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_str_t                 *value = cf->args->elts;

    tlcf->text = value[1];
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tiny_handler;
    return NGX_CONF_OK;
}

static void *
ngx_http_tiny_create_loc_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_tiny_loc_conf_t));
}
END
}

# --- 2. both addons in one tree ----------------------------------------------------------
tree=$work/nginx
stamp=$work/.configured
me=$WXAUTH_ROOT/util/test-build-addons.sh
if [ "${1:-}" = --fresh ] || [ ! -f "$stamp" ] || [ "$WXAUTH_ROOT/config" -nt "$stamp" ] \
   || [ "$WXAUTH_ROOT/config.make" -nt "$stamp" ] \
   || [ "$WXAUTH_ROOT/src/sources.list" -nt "$stamp" ] || [ "$me" -nt "$stamp" ] \
   || [ "$src/conf_flags" -nt "$stamp" ] || [ "$src/auto/feature" -nt "$stamp" ]; then
    wxauth_log "two addons: configuring $src with conf_flags, a tiny C addon, then this module"
    rm -rf "$work"
    mkdir -p "$work"
    write_tiny_addon
    cp -a "$src" "$tree"
    chmod -R u+w "$tree"
    (cd "$tree" && ./configure "${flags[@]}" --add-dynamic-module="$tiny" \
        --add-dynamic-module="$WXAUTH_ROOT" >"$work/configure.log" 2>&1) || {
        tail -n 30 "$work/configure.log" >&2
        fail "configure with both addons failed, see $work/configure.log"
    }
    touch "$stamp"
fi
wxauth_log "two addons: make modules"
# MAKEFLAGS from a calling make (CMake's -s) would hide the compile lines in the log
if ! env -u MAKEFLAGS -u MFLAGS make -C "$tree" -f objs/Makefile modules -j2 >"$work/make.log" 2>&1; then
    grep -E 'error|Error' "$work/make.log" | head -n 20 >&2
    fail "make modules with both addons failed, see $work/make.log"
fi
for so in ngx_http_tiny_module.so ngx_http_wxauth_module.so; do
    [ -f "$tree/objs/$so" ] || fail "make modules built no objs/$so"
done
# the C addon's object is compiled as C (no -std=c++17), ours as C++17
compile_line() {   # compile_line SOURCE OBJECT: the command make would run for OBJECT
    make -n -C "$tree" -f objs/Makefile -W "$1" "$2" 2>/dev/null || true
}
case $(compile_line "$tiny/src/ngx_http_tiny_module.c" objs/addon/src/ngx_http_tiny_module.o) in
    *-std=c++17*) fail "the tiny C addon's object gets -std=c++17" ;;
    *ngx_http_tiny_module.c*) ;;
    *) fail "no compile rule for objs/addon/src/ngx_http_tiny_module.o" ;;
esac
case $(compile_line "$WXAUTH_ROOT/src/ngx_http_wxauth_module.cpp" \
                    objs/addon/src/ngx_http_wxauth_module.o) in
    *-std=c++17*) ;;
    *) fail "objs/addon/src/ngx_http_wxauth_module.o is not compiled with -std=c++17" ;;
esac

# --- 3. both loaded into Debian's nginx ----------------------------------------------------
port=$(wxauth_free_port)
run=$tmp/run
mkdir -p "$run/conf" "$run/logs"
cat > "$run/conf/nginx.conf" << END
load_module $tree/objs/ngx_http_tiny_module.so;
load_module $tree/objs/ngx_http_wxauth_module.so;
daemon off;
master_process on;
worker_processes 1;
error_log logs/error.log info;
pid logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $run/body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;
    server {
        listen 127.0.0.1:$port;
        location = /tiny { tiny_hello "tiny addon here"; }
        location = /metrics { wxauth_metrics; }
    }
}
END
"$nginx_bin" -t -q -p "$run/" -c conf/nginx.conf 2>"$tmp/t.err" \
    || { cat "$tmp/t.err" >&2; fail "nginx -t with both modules failed"; }
wxauth_log "two addons: both modules loaded into $nginx_bin on 127.0.0.1:$port"
"$nginx_bin" -p "$run/" -c conf/nginx.conf 2>>"$run/logs/error.log" &
nginx_pid=$!
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/tiny" && break
    kill -0 "$nginx_pid" 2>/dev/null || { cat "$run/logs/error.log" >&2; fail "nginx exited"; }
    sleep 0.1
done
body=$(curl -s -f "http://127.0.0.1:$port/tiny") || fail "GET /tiny failed"
[ "$body" = "tiny addon here" ] || fail "GET /tiny answered: $body"
metrics=$(curl -s -f "http://127.0.0.1:$port/metrics") || fail "GET /metrics failed"
grep -q '^# TYPE wxauth_logins_total counter' <<<"$metrics" \
    || fail "GET /metrics answered no wxauth_logins_total: $(head -c 300 <<<"$metrics")"
kill "$nginx_pid"
wait "$nginx_pid" 2>/dev/null || true
nginx_pid=
echo "test-build-addons: both addons build in one tree and answer in Debian's nginx"

# --- 4. a missing library stops configure with a clear message ----------------------------
# The three configure runs go side by side, each in its own copy of the tree. They depend on
# nothing but what step 2 depends on: skipped while step 2's tree is unchanged since they passed.
checked=$work/.missing-libraries-checked
if [ -f "$checked" ]; then
    echo "test-build-addons: missing libraries: checked already with this config (--fresh: again)"
    echo "test-build-addons: all good"
    exit 0
fi
wxauth_log "two addons: configure with a library hidden (hiredis, cJSON, libcrypto)"
missing_start() {   # missing_start NAME HEADER: configure with HEADER replaced by an #error one
    local name=$1 header=$2 dir=$tmp/missing-$1
    mkdir -p "$dir/include/$(dirname "$header")"
    echo "#error \"$header hidden by util/test-build-addons.sh\"" > "$dir/include/$header"
    cp -a "$src" "$dir/nginx"
    chmod -R u+w "$dir/nginx"
    (
        rc=0
        cd "$dir/nginx" && ./configure --with-compat --with-cc-opt="-I $dir/include" \
            --add-dynamic-module="$WXAUTH_ROOT" >"$dir/configure.out" 2>&1 || rc=$?
        echo "$rc" >"$dir/rc"
    ) &
}
missing_check() {   # missing_check NAME HEADER DEBIAN_PACKAGE
    local name=$1 header=$2 package=$3 dir=$tmp/missing-$1
    [ -f "$dir/rc" ] || fail "configure without $header did not finish"
    [ "$(cat "$dir/rc")" != 0 ] || fail "configure succeeded without $header"
    grep -q "error: ngx_http_wxauth_module requires" "$dir/configure.out" \
        && grep -q "package: $package" "$dir/configure.out" || {
        tail -n 15 "$dir/configure.out" >&2
        fail "configure without $header did not say which package is missing"
    }
    echo "test-build-addons: without $header, configure stops: $(grep -m1 'requires' "$dir/configure.out")"
}
missing_start hiredis hiredis/async.h
missing_start cjson cjson/cJSON.h
missing_start crypto openssl/evp.h
wait
missing_check hiredis hiredis/async.h libhiredis-dev
missing_check cjson cjson/cJSON.h libcjson-dev
missing_check crypto openssl/evp.h libssl-dev
touch "$checked"

# --- 5. a static build keeps the module's filters in nginx's filter chain ------------------
# With --add-module=, modules initialise in the order of objs/ngx_modules.c; nginx's header
# and write filters set the top of the filter chains without chaining what was there, so the
# module (whose postconfiguration installs the refusal filter) must come after them: that is
# what ngx_module_type=HTTP_AUX_FILTER does. Debian's nginx-dev tree has no .c sources to build
# a static nginx, but configure alone writes the module order.
static=$tmp/static
cp -a "$src" "$static"
chmod -R u+w "$static"
(cd "$static" && ./configure --with-compat --add-module="$tiny" --add-module="$WXAUTH_ROOT" \
    >"$tmp/static-configure.log" 2>&1) || {
    tail -n 30 "$tmp/static-configure.log" >&2
    fail "configure of a static build failed"
}
order=$(sed -n '/^ngx_module_t \*ngx_modules\[\] = {/,/^};/p' "$static/objs/ngx_modules.c" \
        | grep -n -E '&ngx_http_(write_filter|header_filter|wxauth)_module,')
ours=$(grep -m1 wxauth <<<"$order" | cut -d: -f1)
last_core=$(grep -v wxauth <<<"$order" | tail -n1 | cut -d: -f1)
[ -n "$ours" ] && [ -n "$last_core" ] && [ "$ours" -gt "$last_core" ] \
    || fail "static build: ngx_http_wxauth_module initialises before nginx's header/write filters"
echo "test-build-addons: a static build initialises the module after nginx's own filters"
echo "test-build-addons: all good"
