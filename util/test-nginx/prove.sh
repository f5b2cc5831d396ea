#!/bin/sh
# prove wrapper for the Test::Nginx suites (t/*.t, util/test-nginx/t/*.t):
# uses the real Test::Nginx (OpenResty, from CPAN) when it is installed and
# falls back to the small runner in util/test-nginx/lib otherwise.
#
#   util/test-nginx/prove.sh -r t/
#   TEST_NGINX_BINARY=/path/to/nginx util/test-nginx/prove.sh -v t/foo.t
#
# Set TEST_NGINX_FALLBACK=1 to force the fallback runner.

here=$(cd "$(dirname "$0")" && pwd)

# Look for an installed Test/Nginx/Socket.pm without loading it (loading
# Test::Nginx runs its END block, which stops the nginx of t/servroot).
installed=$(PERL5LIB= perl -e '
    for my $dir (@INC) {
        next if ref $dir;
        if (-f "$dir/Test/Nginx/Socket.pm") { print "$dir\n"; exit 0 }
    }
    exit 1' 2>/dev/null)

if [ -n "$installed" ] && [ -z "${TEST_NGINX_FALLBACK:-}" ]; then
    echo "# using the installed Test::Nginx from $installed" >&2
else
    echo "# real Test::Nginx not installed: using the fallback runner in $here/lib" >&2
    PERL5LIB="$here/lib${PERL5LIB:+:$PERL5LIB}"
    export PERL5LIB
fi

if [ -z "${TEST_NGINX_BINARY:-}" ] && ! command -v nginx >/dev/null 2>&1 \
   && [ -x /usr/sbin/nginx ]; then
    TEST_NGINX_BINARY=/usr/sbin/nginx
    export TEST_NGINX_BINARY
fi

exec prove "$@"
