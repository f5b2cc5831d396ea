#!/usr/bin/env bash
# Builds ngx_http_wxauth_module.so against an nginx source tree configured exactly like the
# nginx it will be loaded into (Debian's nginx-dev: /usr/share/nginx/src with conf_flags).
#   util/build-module.sh NGINX_SRC_DIR WORK_DIR OUTPUT_SO
set -euo pipefail

src=${1:-/usr/share/nginx/src}
work=${2:-build/nginx-build}
out=${3:-build/ngx_http_wxauth_module.so}
here=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -f "$src/auto/configure" ] && [ ! -x "$src/configure" ]; then
    echo "build-module: no nginx source tree at $src (install Debian's nginx-dev, or pass one)" >&2
    exit 1
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)
stamp="$work/.configured"
flags_file="$src/conf_flags"

# Configure once per source tree; again when config, config.make or the source list change.
if [ ! -f "$stamp" ] || [ "$here/config" -nt "$stamp" ] || [ "$here/config.make" -nt "$stamp" ] \
   || [ "$here/src/sources.list" -nt "$stamp" ]; then
    rm -rf "$work/nginx"
    cp -a "$src" "$work/nginx"
    chmod -R u+w "$work/nginx"
    flags=()
    if [ -f "$flags_file" ]; then
        # conf_flags defines NGX_CONF_FLAGS=( ... ), the flags Debian's nginx was built with.
        # shellcheck disable=SC1090
        . "$flags_file"
        flags=("${NGX_CONF_FLAGS[@]}")
    else
        flags=(--with-compat)
    fi
    (cd "$work/nginx" && ./configure "${flags[@]}" --add-dynamic-module="$here" >"$work/configure.log" 2>&1) || {
        echo "build-module: nginx configure failed, see $work/configure.log" >&2
        tail -n 30 "$work/configure.log" >&2
        exit 1
    }
    touch "$stamp"
fi

make -C "$work/nginx" -f objs/Makefile modules -j"$(nproc)" >"$work/make.log" 2>&1 || {
    echo "build-module: make modules failed, see $work/make.log" >&2
    grep -E 'error|Error' "$work/make.log" | head -n 40 >&2
    exit 1
}
mkdir -p "$(dirname "$out")"
# a new file renamed over the old one, never the old one rewritten: an nginx that has the
# module loaded (the demo, a developer's) keeps its mapping of the old file; rewritten in
# place, its workers would crash, and the master's forks of the same mapping with them
cp "$work/nginx/objs/ngx_http_wxauth_module.so" "$out.new.$$"
mv -f "$out.new.$$" "$out"
echo "build-module: $out"
