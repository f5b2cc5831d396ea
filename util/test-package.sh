#!/usr/bin/env bash
# Tests the Debian package the way a user meets it, in a clean root: builds it (util/package.sh,
# lintian included), makes a `debootstrap --variant=minbase` chroot of this machine's Debian
# release from this machine's own apt sources, and there
#   1. `apt-get install ./libnginx-mod-http-wxauth_*.deb`: apt brings nginx (the provider of the
#      nginx ABI the package depends on) and the libraries from Debian's archive;
#   2. checks the installed files, the modules-enabled link and `nginx -t` with Debian's stock
#      nginx.conf, which loads the module;
#   3. runs examples/check.sh on the installed example configuration
#      (/usr/share/doc/libnginx-mod-http-wxauth/examples/nginx.conf): `nginx -t`, a real login
#      through the installed module over TLS, a session check, logout, metrics;
#   4. starts Debian's stock nginx with the module loaded and stops it;
#   5. `apt-get remove`: nginx stays installed, the link is parked as .removed, and the stock
#      nginx starts; a reinstall enables the module again; `apt-get purge` removes the link.
# Nothing is installed on this machine but the build and test tools; every server runs in the
# chroot on free loopback ports and is stopped by PID, also on failure.
#
#   util/test-package.sh
#
# WXAUTH_DEB=path tests that .deb instead of building one. The pristine chroot is kept as
# build/package-test/<release>-minbase.tar and reused (WXAUTH_CHROOT_FRESH=1 bootstraps anew).
# WXAUTH_SKIP_INSTALL=1 skips the package check.
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

[ "$(id -u)" -eq 0 ] || { echo "test-package: needs root (debootstrap, chroot)" >&2; exit 1; }
[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] \
    || wxauth_install_missing "${WXAUTH_PACKAGING_PACKAGES[@]}" debootstrap

started=$(date +%s)
passed=0
pass() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "test-package: FAILED: $*" >&2; echo "package: $passed passed, 1 failed"; exit 1; }

# --- the package ---------------------------------------------------------------------------
if [ -n "${WXAUTH_DEB:-}" ]; then
    deb=$(realpath "$WXAUTH_DEB")
else
    deb=$(WXAUTH_SKIP_INSTALL=1 util/package.sh | tail -n 1)
fi
[ -f "$deb" ] || fail "no package at $deb"
pkg=$(dpkg-deb --field "$deb" Package)
pass "built $(basename "$deb") in $(($(date +%s) - started)) s"

# --- the clean root ------------------------------------------------------------------------
# shellcheck disable=SC1091
release=$(. /etc/os-release && echo "$VERSION_CODENAME")
# the archive this machine installs its own packages from
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' \
    | awk -v r="$release" '$2 == r { print $1; exit }')
[ -n "$mirror" ] || fail "no apt source for $release on this machine"

root=$(mktemp -d /tmp/wxauth-chroot.XXXXXX)
chmod 755 "$root"     # the chroot's / (apt's _apt and nginx's www-data go through it)
cleanup() {
    local rc=$? p
    set +e
    # the servers started in the chroot, by their pid files, then any process left there
    wxauth_stop_pidfile "$root/run/nginx.pid"
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill "${p#/proc/}" 2>/dev/null
    done
    if mountpoint -q "$root/proc"; then
        umount "$root/proc" || umount -l "$root/proc"
    fi
    rm -rf --one-file-system "$root"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cache_dir=$WXAUTH_BUILD/package-test
cache=$cache_dir/$release-minbase.tar
t=$(date +%s)
if [ -f "$cache" ] && [ "${WXAUTH_CHROOT_FRESH:-0}" != 1 ]; then
    tar -C "$root" -xf "$cache"
    pass "minbase $release chroot from $cache"
else
    wxauth_log "debootstrap --variant=minbase $release (log: $cache_dir/debootstrap.log)"
    mkdir -p "$cache_dir"
    debootstrap --variant=minbase "$release" "$root" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 \
        || { tail -n 20 "$cache_dir/debootstrap.log" >&2; fail "debootstrap"; }
    tar -C "$root" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
    pass "debootstrap --variant=minbase $release in $(($(date +%s) - t)) s"
fi

chmod 755 "$root"

inroot() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

# no service starts by itself in the chroot (nginx's postinst would start it on port 80)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# the same suites as this machine (release, updates, security)
apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
    | awk -v r="$release" '$2 == r || index($2, r "-") == 1 { print "deb " $1 " " $2 " " $3 }' \
    | sort -u >"$root/etc/apt/sources.list"
mount -t proc proc "$root/proc"

t=$(date +%s)
wxauth_log "apt-get update and the test tools in the chroot"
inroot apt-get update -qq >/dev/null
inroot apt-get install -y -qq --no-install-recommends redis-server curl openssl ca-certificates \
    >"$root/tmp/tools.log" 2>&1 || { tail -n 20 "$root/tmp/tools.log" >&2; fail "installing test tools"; }
! inroot dpkg -s nginx >/dev/null 2>&1 || fail "nginx is already in the chroot"
pass "apt-get update, redis-server and curl in the chroot in $(($(date +%s) - t)) s"

# --- 1. apt-get install ./the.deb ------------------------------------------------------------
installed() { [ "$(inroot dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
cp "$deb" "$root/tmp/"
t=$(date +%s)
inroot apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" >"$root/tmp/install.log" 2>&1 \
    || { tail -n 30 "$root/tmp/install.log" >&2; fail "apt-get install ./$(basename "$deb")"; }
installed "$pkg" || fail "$pkg is not installed"
installed nginx || fail "nginx did not come with $pkg"
for lib in $(dpkg-deb --field "$deb" Depends | tr ',' '\n' | sed -E 's/^ *([^ (]+).*/\1/' | grep -v '^nginx-abi'); do
    installed "$lib" || fail "$lib (a dependency) is not installed"
done
pass "apt-get install ./$(basename "$deb") in $(($(date +%s) - t)) s: nginx $(inroot dpkg-query -W -f='${Version}' nginx) and $(dpkg-deb --field "$deb" Depends | tr ',' '\n' | grep -c .) dependencies from the archive"

# --- 2. what it installed --------------------------------------------------------------------
doc=/usr/share/doc/$pkg
for f in /usr/lib/nginx/modules/ngx_http_wxauth_module.so \
         /usr/share/nginx/modules-available/mod-http-wxauth.conf \
         "$doc/README.md.gz" "$doc/changelog.gz" "$doc/copyright" "$doc/examples/nginx.conf"; do
    [ -f "$root$f" ] || fail "$f is missing"
done
[ "$(cat "$root/usr/share/nginx/modules-available/mod-http-wxauth.conf")" = \
  "load_module modules/ngx_http_wxauth_module.so;" ] || fail "mod-http-wxauth.conf: $(cat "$root/usr/share/nginx/modules-available/mod-http-wxauth.conf")"
link=/etc/nginx/modules-enabled/50-mod-http-wxauth.conf
[ "$(readlink "$root$link")" = /usr/share/nginx/modules-available/mod-http-wxauth.conf ] \
    || fail "$link does not point at modules-available"
pass "module, mod-http-wxauth.conf, $link, README, example, changelog and copyright in place"

inroot nginx -t -q || fail "nginx -t with Debian's nginx.conf and the module enabled"
pass "nginx -t with Debian's stock nginx.conf (module loaded through modules-enabled)"

# --- 3. the installed example configuration, end to end ---------------------------------------
mkdir -p "$root/opt/wxauth/examples" "$root/opt/wxauth/util"
cp examples/check.sh "$root/opt/wxauth/examples/"
cp util/common.sh "$root/opt/wxauth/util/"
inroot WXAUTH_CHECK_INSTALLED=1 /opt/wxauth/examples/check.sh "$doc/examples/nginx.conf" \
    >"$root/tmp/check.log" 2>&1 || { tail -n 30 "$root/tmp/check.log" >&2; fail "examples/check.sh with the installed module"; }
grep -E '^(login|api): ' "$root/tmp/check.log"
pass "installed example configuration: nginx -t, login over verified TLS, session check, logout, metrics"

# --- 4. Debian's stock nginx, started ----------------------------------------------------------
web_port=$(wxauth_free_port)
sed -i -e "s|listen 80 default_server;|listen 127.0.0.1:$web_port default_server;|" \
       -e "/listen \[::\]:80 default_server;/d" "$root/etc/nginx/sites-available/default"
# starts Debian's nginx with its own configuration; $1: whether the module must be loaded
stock_nginx_runs() {
    local pid loaded=no
    inroot nginx || return 1
    wxauth_wait_for_url "http://127.0.0.1:$web_port/" || return 1
    pid=$(cat "$root/run/nginx.pid")
    grep -q ngx_http_wxauth_module.so "/proc/$pid/maps" && loaded=yes
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$web_port/")" = 200 ] || return 1
    wxauth_stop_pidfile "$root/run/nginx.pid"
    [ "$loaded" = "$1" ] || { echo "module loaded: $loaded, expected $1" >&2; return 1; }
}
stock_nginx_runs yes || fail "Debian's nginx with the module"
pass "Debian's nginx starts with the module loaded, answers, stops"

# --- 5. removal, reinstall, purge ------------------------------------------------------------
inroot apt-get remove -y "$pkg" >"$root/tmp/remove.log" 2>&1 || { cat "$root/tmp/remove.log" >&2; fail "apt-get remove"; }
installed nginx || fail "removing $pkg removed nginx"
! installed "$pkg" || fail "$pkg is still installed"
[ ! -e "$root/usr/lib/nginx/modules/ngx_http_wxauth_module.so" ] || fail "the module is still there"
[ ! -e "$root$link" ] && [ -L "$root$link.removed" ] || fail "$link was not parked as .removed"
inroot nginx -t -q || fail "nginx -t after the removal"
stock_nginx_runs no || fail "Debian's nginx after the removal"
pass "apt-get remove: nginx stays, the link is parked as .removed, nginx -t passes and nginx starts"

inroot apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" >"$root/tmp/install2.log" 2>&1 \
    || { tail -n 20 "$root/tmp/install2.log" >&2; fail "reinstall"; }
[ -L "$root$link" ] && [ ! -e "$root$link.removed" ] || fail "the reinstall did not enable the module again"
inroot nginx -t -q || fail "nginx -t after the reinstall"
pass "reinstall: enabled again"

inroot apt-get purge -y "$pkg" >"$root/tmp/purge.log" 2>&1 || { cat "$root/tmp/purge.log" >&2; fail "apt-get purge"; }
installed nginx || fail "purging $pkg removed nginx"
[ ! -e "$root$link" ] && [ ! -L "$root$link.removed" ] || fail "links left in modules-enabled after the purge"
stock_nginx_runs no || fail "Debian's nginx after the purge"
pass "apt-get purge: no link left, nginx starts"

echo "package test took $(($(date +%s) - started)) s"
echo "package: $passed passed, 0 failed"
