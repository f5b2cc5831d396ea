#!/usr/bin/env bash
# Builds the Debian package libnginx-mod-http-wxauth from debian/ and prints the path of the .deb.
#
#   util/package.sh            build (in build/package/), check it with lintian, print the .deb
#   apt install ./build/package/libnginx-mod-http-wxauth_*.deb
#
# The package is built the way Debian builds its own nginx modules (dh-sequence-nginx from
# nginx-dev): against /usr/share/nginx/src with the flags of the machine's nginx, so it depends
# on exactly that nginx ABI. The version comes from debian/changelog. A copy of the source tree
# (without build/ and .git) is built, so the work tree stays clean; dpkg-buildpackage's own
# output goes to build/package/build.log. Lintian's verdict is printed; an error fails the build
# (WXAUTH_SKIP_LINTIAN=1 skips it). WXAUTH_SKIP_INSTALL=1 skips the package check.
set -euo pipefail

. "$(dirname "$0")/common.sh"
cd "$WXAUTH_ROOT"

[ "${WXAUTH_SKIP_INSTALL:-0}" = 1 ] || wxauth_install_missing "${WXAUTH_PACKAGING_PACKAGES[@]}"

out=$WXAUTH_BUILD/package
name=$(dpkg-parsechangelog -S Source)
version=$(dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
src=$out/$name-$version

rm -rf "$out"
mkdir -p "$src"
# the source tree as it is now (uncommitted changes included), without build products
tar -C "$WXAUTH_ROOT" --exclude=./.git --exclude=./build --exclude='./build-*' \
    --exclude=./t/servroot --exclude=node_modules -cf - . | tar -C "$src" -xf -

wxauth_log "dpkg-buildpackage $name $version ($arch), log: $out/build.log"
start=$(date +%s)
if ! (cd "$src" && dpkg-buildpackage -b -us -uc -j2) >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "package: dpkg-buildpackage failed, see $out/build.log" >&2
    exit 1
fi
wxauth_log "built in $(($(date +%s) - start)) s"

deb=$out/${name}_${version}_${arch}.deb
[ -f "$deb" ] || { echo "package: no $deb after the build" >&2; exit 1; }
rm -rf "$src"

dpkg-deb --field "$deb" Package Version Depends >&2

if [ "${WXAUTH_SKIP_LINTIAN:-0}" != 1 ]; then
    # the .changes, so that lintian sees the package the way an upload would be checked
    changes=$out/${name}_${version}_${arch}.changes
    lintian --info --display-info "$changes" >"$out/lintian.log" 2>&1 || true
    errors=$(grep -c '^E: ' "$out/lintian.log" || true)
    warnings=$(grep -c '^W: ' "$out/lintian.log" || true)
    wxauth_log "lintian: $errors error(s), $warnings warning(s) (full report: $out/lintian.log)"
    grep -E '^(E|W): ' "$out/lintian.log" | sort -u >&2 || true
    [ "$errors" -eq 0 ] || { echo "package: lintian found errors" >&2; exit 1; }
fi

echo "$deb"
