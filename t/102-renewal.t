# vi:filetype=perl
#
# Session lifetime: sliding renewal (wxauth_session_renew) and the absolute cap
# (wxauth_session_max_lifetime), both read at login and kept in the session
# record ("rn", "ttl", "mx"). A session check reads the record and its PTTL in
# one round trip; when less than half the lifetime is left on a renewing
# session it sends EXPIRE (the record) and EXPIRE ... GT (the user's newest
# session_key), without waiting for the answers.
#
# - the login blocks look at the record and the expiries in Redis (response
#   body check below);
# - the renewal blocks seed records whose Redis expiry is already below half
#   their "ttl", so that one request must renew them: no waiting;
# - one block lets time run (--- wait between requests): a session in use
#   outlives its TTL, an idle one, a non-renewing one and a capped one do not.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt102:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = 'oAlice-6Yk2QfPZ';

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

sub login_location {
    my ($uri, @directives) = @_;
    my $more = join '', map { "        $_;\n" } @directives;
    return <<"_EOC_";
    location = $uri {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
$more    }
_EOC_
}

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    # the renewal settings of a protected location play no part: they are the login's
    location /api/norenew/ {
        wxauth on;
        wxauth_session_renew off;
        wxauth_session_ttl 5s;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /metrics {
        wxauth_metrics;
    }

@{[ login_location('/login/plain', 'wxauth_session_ttl 600s') ]}
@{[ login_location('/login/renew', 'wxauth_session_ttl 600s', 'wxauth_session_renew on') ]}
@{[ login_location('/login/capped', 'wxauth_session_ttl 10m', 'wxauth_session_renew on',
                   'wxauth_session_max_lifetime 5m') ]}
@{[ login_location('/login/long', 'wxauth_session_ttl 1m', 'wxauth_session_renew on',
                   'wxauth_session_max_lifetime 1h') ]}

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# seed(token, redis expiry in seconds, extra record fields, openid = Alice)
sub seed {
    my ($token, $ex, $fields, $openid) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid || $Alice,
                             appid => $AppId, ttl => $ex, fields => $fields || {});
}

# The user's newest session_key, as a login stores it.
sub seed_latest_key {
    my ($ex, $openid) = @_;
    WxAuthTest::redis('SET', WxAuthTest::latest_key($Prefix, $AppId, $openid || $Alice),
                      $WxAuthTest::SessionKey, 'EX', $ex);
}

sub session_ttl { WxAuthTest::redis('TTL', WxAuthTest::session_key($Prefix, shift)) }
sub latest_key_ttl { WxAuthTest::redis('TTL', WxAuthTest::latest_key($Prefix, $AppId, shift || $Alice)) }

# Polls `get` until its value lies in [lo, hi] (the module does not wait for
# its EXPIRE to be answered, so Redis may see it a moment after the response).
sub eventually_between {
    my ($get, $lo, $hi) = @_;
    my $v;
    for (1 .. 40) {
        $v = $get->();
        last if $v >= $lo && $v <= $hi;
        Time::HiRes::sleep(0.025);
    }
    return $v;
}

# For a block with --- stored_record (eval: expected fields, undef = absent),
# --- stored_ttl (the record's Redis TTL), --- stored_mx_after_iat and
# --- latest_key_ttl: checks what the login that answered stored in Redis.
# --- check_after (eval: a sub) is called after each response.
WxAuthTest::add_checks(on_response => sub {
    my ($block, $body) = @_;
    my $name = $block->name;
    my $want = $block->stored_record or return;
    my ($token) = WxAuthTest::login_answer($body)
        or return fail("$name - a login answer: " . ($body // '(none)'));

    my ($rec, $ttl, $raw) = WxAuthTest::stored_session($Prefix, $token);
    ok($rec, "$name - the session is stored") or return diag("stored: " . ($raw // '(none)'));
    for my $field (sort keys %$want) {
        if (defined $want->{$field}) {
            is($rec->{$field}, $want->{$field}, "$name - record field \"$field\"");
        } else {
            ok(!exists $rec->{$field}, "$name - no record field \"$field\"");
        }
    }
    if (defined(my $after = $block->stored_mx_after_iat)) {
        is($rec->{mx} - $rec->{iat}, $after, "$name - record field \"mx\" is iat + $after");
    }
    if (defined(my $want_ttl = $block->stored_ttl)) {
        ok($ttl > $want_ttl - 5 && $ttl <= $want_ttl,
           "$name - the record expires in $want_ttl s (TTL $ttl)");
    }
    if (defined(my $want_ttl = $block->latest_key_ttl)) {
        my $kttl = latest_key_ttl();
        ok($kttl > $want_ttl - 5 && $kttl <= $want_ttl,
           "$name - the newest session_key expires in $want_ttl s (TTL $kttl)");
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: login without renewal: the record keeps its ttl, no "rn", no "mx"
--- more_headers
Content-Type: application/json
--- request
POST /login/plain
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":600\}$
--- stored_record eval
{ v => 1, openid => 'oAlice-6Yk2QfPZ', appid => 'wx51a4cc1e0a5e0001', ttl => 600, rn => undef, mx => undef }
--- stored_ttl: 600
--- latest_key_ttl: 600



=== TEST 2: login with wxauth_session_renew on: "rn":1 and the ttl to renew to
--- more_headers
Content-Type: application/json
--- request
POST /login/renew
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":600\}$
--- stored_record eval
{ openid => 'oAlice-6Yk2QfPZ', ttl => 600, rn => 1, mx => undef }
--- stored_ttl: 600
--- latest_key_ttl: 600



=== TEST 3: max_lifetime shorter than the ttl: the session ends at the cap, expires_in says so
--- more_headers
Content-Type: application/json
--- request
POST /login/capped
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":300\}$
--- stored_record eval
{ ttl => 600, rn => 1 }
--- stored_mx_after_iat: 300
--- stored_ttl: 300
--- latest_key_ttl: 600



=== TEST 4: max_lifetime longer than the ttl: the ttl first, the cap kept for later
--- more_headers
Content-Type: application/json
--- request
POST /login/long
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":60\}$
--- stored_record eval
{ ttl => 60, rn => 1 }
--- stored_mx_after_iat: 3600
--- stored_ttl: 60
--- latest_key_ttl: 3600



=== TEST 5: a renewing session past half its lifetime: one check resets record and newest key to the ttl
--- init
main::seed('5iK_r4cM1VI88D_5n2toHS5mSkOM-4eCChmWoODRWCs', 100, { ttl => 600, rn => 1 });
main::seed_latest_key(100);
--- more_headers
X-WX-Session: 5iK_r4cM1VI88D_5n2toHS5mSkOM-4eCChmWoODRWCs
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    my $ttl = main::eventually_between(sub { main::session_ttl('5iK_r4cM1VI88D_5n2toHS5mSkOM-4eCChmWoODRWCs') }, 595, 600);
    Test::More::ok($ttl >= 595 && $ttl <= 600, "$name - the record's expiry is back to 600 s (TTL $ttl)");
    $ttl = main::eventually_between(sub { main::latest_key_ttl() }, 595, 600);
    Test::More::ok($ttl >= 595 && $ttl <= 600, "$name - so is the newest session_key's (TTL $ttl)");
}
--- error_code: 200
--- response_body
upstream GET /api/me openid=[oAlice-6Yk2QfPZ] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]
--- error_log
wxauth: session renewed for 600 s



=== TEST 6: more than half the lifetime left: no write
--- init
main::seed('uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s', 400, { ttl => 600, rn => 1 });
--- more_headers
X-WX-Session: uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    Time::HiRes::sleep(0.2);
    my $ttl = main::session_ttl('uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s');
    Test::More::ok($ttl > 390 && $ttl <= 400, "$name - the record's expiry is untouched (TTL $ttl)");
}
--- error_code: 200
--- no_error_log
wxauth: session renewed



=== TEST 7: a session logged in without renewal is never renewed
--- init
main::seed('8i4HMEslYwrBLVxmU3izb10qv3jQjNGWPdDfeptEHgc', 100, { ttl => 600 });
--- more_headers
X-WX-Session: 8i4HMEslYwrBLVxmU3izb10qv3jQjNGWPdDfeptEHgc
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    Time::HiRes::sleep(0.2);
    my $ttl = main::session_ttl('8i4HMEslYwrBLVxmU3izb10qv3jQjNGWPdDfeptEHgc');
    Test::More::ok($ttl > 90 && $ttl <= 100, "$name - the record's expiry is untouched (TTL $ttl)");
}
--- error_code: 200
--- no_error_log
wxauth: session renewed



=== TEST 8: renewal is the login's setting, not the protected location's
--- init
main::seed('R33SKP6tYox7tm1s8kqiIj3IkvIOW5xJhEGsqVTD1iY', 100, { ttl => 600, rn => 1 });
--- more_headers
X-WX-Session: R33SKP6tYox7tm1s8kqiIj3IkvIOW5xJhEGsqVTD1iY
--- request
GET /api/norenew/x
--- check_after eval
sub {
    my ($name) = @_;
    my $ttl = main::eventually_between(sub { main::session_ttl('R33SKP6tYox7tm1s8kqiIj3IkvIOW5xJhEGsqVTD1iY') }, 595, 600);
    Test::More::ok($ttl >= 595 && $ttl <= 600, "$name - renewed to the record's ttl (TTL $ttl)");
}
--- error_code: 200
--- error_log
wxauth: session renewed for 600 s



=== TEST 9: a record without "ttl" (written before renewal existed) is not renewed
--- init
main::seed('BlnaBYJMCdW__sc9nBhJY09F-zQ1QDLh2GUiIrRjZFY', 100, { rn => 1 });
--- more_headers
X-WX-Session: BlnaBYJMCdW__sc9nBhJY09F-zQ1QDLh2GUiIrRjZFY
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    Time::HiRes::sleep(0.2);
    my $ttl = main::session_ttl('BlnaBYJMCdW__sc9nBhJY09F-zQ1QDLh2GUiIrRjZFY');
    Test::More::ok($ttl > 90 && $ttl <= 100, "$name - the record's expiry is untouched (TTL $ttl)");
}
--- error_code: 200
--- no_error_log
wxauth: session renewed



=== TEST 10: the absolute cap: renewal stops at "mx"
--- init
main::seed('RaW-K3YsVU647XDnIv1GT-DgDsV26PYU3g_MtL1FM8g', 100, { ttl => 600, rn => 1, mx => time + 200 });
--- more_headers
X-WX-Session: RaW-K3YsVU647XDnIv1GT-DgDsV26PYU3g_MtL1FM8g
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    my $ttl = main::eventually_between(sub { main::session_ttl('RaW-K3YsVU647XDnIv1GT-DgDsV26PYU3g_MtL1FM8g') }, 195, 200);
    Test::More::ok($ttl >= 195 && $ttl <= 200, "$name - renewed up to the cap only (TTL $ttl)");
}
--- error_code: 200
--- error_log eval
qr/wxauth: session renewed for (?:199|200) s/



=== TEST 11: a renewed session stays in the user's session set (single-session policy) as long as it lives
The set a single-session login keeps (u:<appid>:<openid>) must not expire
before the sessions it lists, or the next login could not end them.
--- init
my $key = main::seed('VZaslqjQvm567260bsZ4Rj5g1OXVcoB9i57yuZk5g5Y', 100, { ttl => 600, rn => 1 });
my $set = WxAuthTest::user_sessions_key($main::Prefix, $main::AppId, $main::Alice);
WxAuthTest::redis('DEL', $set);
WxAuthTest::redis('SADD', $set, $key);
WxAuthTest::redis('EXPIRE', $set, 100);
--- more_headers
X-WX-Session: VZaslqjQvm567260bsZ4Rj5g1OXVcoB9i57yuZk5g5Y
--- request
GET /api/me
--- check_after eval
sub {
    my ($name) = @_;
    my $set = WxAuthTest::user_sessions_key($main::Prefix, $main::AppId, $main::Alice);
    my $ttl = main::eventually_between(sub { main::session_ttl('VZaslqjQvm567260bsZ4Rj5g1OXVcoB9i57yuZk5g5Y') }, 595, 600);
    Test::More::ok($ttl >= 595 && $ttl <= 600, "$name - the record is renewed (TTL $ttl)");
    my $set_ttl = main::eventually_between(sub { WxAuthTest::redis('TTL', $set) }, $ttl - 5, 600);
    Test::More::ok($set_ttl >= $ttl - 5, "$name - the user's session set lives as long (TTL $set_ttl)");
}
--- error_code: 200



=== TEST 12: time runs: a session in use outlives its TTL; idle, non-renewing and capped ones do not
Every record lives 4 s (renewal once less than 2 s are left); requests are
0.8 s apart. R (renewing) is used at 0, 2.4 (renewed) and 4.8 s; N (not
renewing) at 0.8 and 3.2 s; M (renewing, capped 3 s after the seeding) at
1.6 s; I (renewing) never until 6.4 s.
--- init
my $f = { ttl => 4, rn => 1 };
main::seed('hls8cCq7gwNakibf77Ua5jPBZJGnymINJkFmYQfVbiI', 4, $f);
main::seed('3Bx_2SZL7Z1sgzYzRq1Nmpxgfq180lMeb6_eCPHp9fA', 4, { ttl => 4 });
main::seed('R02AqPDxW4hU-scZydFP0YRPqmJ8oantw4ZqpRdVyy0', 3, { ttl => 4, rn => 1, mx => time + 3 });
main::seed('ukcNp-6zf420DW2WzSgz9209oy1rkLWT7R49U30d9M8', 4, $f);
--- wait: 0.8
--- more_headers eval
[
"X-WX-Session: hls8cCq7gwNakibf77Ua5jPBZJGnymINJkFmYQfVbiI",
"X-WX-Session: 3Bx_2SZL7Z1sgzYzRq1Nmpxgfq180lMeb6_eCPHp9fA",
"X-WX-Session: R02AqPDxW4hU-scZydFP0YRPqmJ8oantw4ZqpRdVyy0",
"X-WX-Session: hls8cCq7gwNakibf77Ua5jPBZJGnymINJkFmYQfVbiI",
"X-WX-Session: 3Bx_2SZL7Z1sgzYzRq1Nmpxgfq180lMeb6_eCPHp9fA",
"X-WX-Session: hls8cCq7gwNakibf77Ua5jPBZJGnymINJkFmYQfVbiI",
"X-WX-Session: R02AqPDxW4hU-scZydFP0YRPqmJ8oantw4ZqpRdVyy0",
"X-WX-Session: 3Bx_2SZL7Z1sgzYzRq1Nmpxgfq180lMeb6_eCPHp9fA",
"X-WX-Session: ukcNp-6zf420DW2WzSgz9209oy1rkLWT7R49U30d9M8",
]
--- request eval
[
"GET /api/R-0.0", "GET /api/N-0.8", "GET /api/M-1.6", "GET /api/R-2.4", "GET /api/N-3.2",
"GET /api/R-4.8", "GET /api/M-4.8", "GET /api/N-5.6", "GET /api/I-6.4",
]
--- error_code eval
[200, 200, 200, 200, 200, 200, 401, 401, 401]
--- response_body_like eval
[
"^upstream GET /api/R-0.0 ", "^upstream GET /api/N-0.8 ", "^upstream GET /api/M-1.6 ",
"^upstream GET /api/R-2.4 ", "^upstream GET /api/N-3.2 ", "^upstream GET /api/R-4.8 ",
'^\{"error":"session_expired"', '^\{"error":"session_expired"', '^\{"error":"session_expired"',
]



=== TEST 13: the renewals are counted
--- init
main::seed('5IXAB68tJO4_4-Mt6pGAMZdDXjaHK8NvsQW-QO2GQYs', 100, { ttl => 600, rn => 1 });
main::seed('LHB4PaS6k61VCwahB1QJ1LFE4S94Nf78E8fgO5ZPYGU', 100, { ttl => 600, rn => 1 });
--- more_headers eval
[
"X-WX-Session: 5IXAB68tJO4_4-Mt6pGAMZdDXjaHK8NvsQW-QO2GQYs",
"X-WX-Session: 5IXAB68tJO4_4-Mt6pGAMZdDXjaHK8NvsQW-QO2GQYs",
"X-WX-Session: LHB4PaS6k61VCwahB1QJ1LFE4S94Nf78E8fgO5ZPYGU",
"",
]
--- request eval
["GET /api/a", "GET /api/b", "GET /api/c", "GET /metrics"]
--- response_body_like eval
["^upstream GET /api/a ", "^upstream GET /api/b ", "^upstream GET /api/c ",
'\nwxauth_session_renewals_total 2\n']
