# vi:filetype=perl
#
# Several mini-programs behind one nginx, and the single-session policy:
#
# - each login location has its own wxauth_appid / wxauth_secret; a session
#   remembers its app, which reaches the upstream as $wxauth_appid;
# - wxauth_allowed_apps on a protected location refuses sessions of other apps
#   (403 app_not_allowed), in the access phase and in the user data handlers;
# - wxauth_single_session on a login location: the user's older sessions of
#   that app end when they log in again; those of another app do not.
#
# Blocks that log in for real go on from the new token in the response-body
# check below (--- follow_up); the others seed sessions from --- init.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt104:';
our $AppA   = $WxAuthTest::AppId;
our $AppB   = $WxAuthTest::AppId2;
our $Alice  = 'oAlice-6Yk2QfPZ';

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";
    wxauth_code2session /_wx/jscode2session;

$WxAuthTest::Servers
_EOC_

sub protected {
    my ($uri, @directives) = @_;
    my $more = join '', map { "        $_;\n" } @directives;
    return <<"_EOC_";
    location $uri {
        wxauth on;
$more        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }
_EOC_
}

our $Config = <<"_EOC_";
    # app A
    location = /a/login {
        wxauth_login;
        wxauth_appid $AppA;
        wxauth_secret $WxAuthTest::Secret;
    }

    location = /a/login/single {
        wxauth_login;
        wxauth_appid $AppA;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_single_session on;
    }

    location = /a/login/single-renew {
        wxauth_login;
        wxauth_appid $AppA;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_single_session on;
        wxauth_session_renew on;
        wxauth_session_ttl 2s;
    }

    # app B
    location = /b/login {
        wxauth_login;
        wxauth_appid $AppB;
        wxauth_secret $WxAuthTest::Secret2;
    }

    location = /b/login/single {
        wxauth_login;
        wxauth_appid $AppB;
        wxauth_secret $WxAuthTest::Secret2;
        wxauth_single_session on;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

@{[ protected('/api/') ]}
@{[ protected('/a-only/', "wxauth_allowed_apps $AppA") ]}
@{[ protected('/both/', "wxauth_allowed_apps $AppB $AppA") ]}
@{[ protected('/other/', 'wxauth_allowed_apps wx00000000000other') ]}

    # the list is inherited, and a location's own list replaces it
    location /inherit/ {
        wxauth_allowed_apps $AppB;

@{[ protected('/inherit/b/') ]}
@{[ protected('/inherit/a/', "wxauth_allowed_apps $AppA") ]}
    }

    location = /a-only/decrypt {
        wxauth_allowed_apps $AppA;
        wxauth_decrypt;
    }

    location = /a-only/verify {
        wxauth_allowed_apps $AppA;
        wxauth_verify_signature;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# seed(token, appid, openid = Alice)
sub seed {
    my ($token, $appid, $openid) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid || $Alice,
                             unionid => 'uAlice-Lr0Wx3Tn', appid => $appid, ttl => 600);
}

# http(method_and_uri, token?, headers?, body?) -> (status, body) on the server under test
sub http {
    my ($line, $token, $headers, $body) = @_;
    my %h = %{ $headers || {} };
    $h{'X-WX-Session'} = $token if defined $token;
    my ($status, undef, $resp) = WxAuthTest::http_request(server_port_for_client(), $line, \%h,
                                                          $body);
    return ($status, $resp);
}

sub login {
    my ($uri) = @_;
    my ($status, $body) = http("POST $uri", undef, { 'Content-Type' => 'application/json' },
                               '{"code":"good"}');
    my ($token) = ($body // '') =~ /"session":"([A-Za-z0-9_-]{43})"/;
    return $token;
}

sub echo_of {
    my ($uri, $appid) = @_;
    return "upstream GET $uri openid=[$Alice] unionid=[uAlice-Lr0Wx3Tn] appid=[$appid] session=[]\n";
}

# --- follow_up (eval: a sub) gets (name, token, index) for each response of
# the block that carries a new session token; $Tokens{name} lists the tokens
# the block's logins got so far.
our %Tokens;
WxAuthTest::add_checks(on_login => sub {
    my ($block, $token) = @_;
    push @{ $Tokens{$block->name} }, $token;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two apps log the same user in: each session remembers its app, the upstream learns it
--- more_headers
Content-Type: application/json
--- request eval
["POST /a/login\n{\"code\":\"good\"}", "POST /b/login\n{\"code\":\"good\"}"]
--- follow_up eval
sub {
    my ($name, $token, $idx) = @_;
    my $app = $idx == 0 ? $main::AppA : $main::AppB;

    my ($rec) = WxAuthTest::stored_session($main::Prefix, $token);
    Test::More::is($rec->{appid}, $app, "$name - the record of login $idx names its app");

    my ($status, $body) = main::http('GET /api/who', $token);
    Test::More::is($status, 200, "$name - the token of login $idx opens /api/");
    Test::More::is($body, main::echo_of('/api/who', $app), "$name - \$wxauth_appid is $app");

    Test::More::is(WxAuthTest::redis('GET', WxAuthTest::latest_key($main::Prefix, $app, $main::Alice)),
                   $WxAuthTest::SessionKey, "$name - the newest session_key is kept per app ($app)");
}
--- error_code eval
[200, 200]
--- response_body_like eval
[ ('^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$') x 2 ]



=== TEST 2: wxauth_allowed_apps: sessions of the listed apps pass, others get 403 app_not_allowed
--- init
main::seed('IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ', $main::AppA);
main::seed('S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA', $main::AppB);
--- more_headers eval
[
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
]
--- request eval
["GET /a-only/x", "GET /a-only/x", "GET /both/x", "GET /both/x", "GET /other/x", "GET /other/x"]
--- error_code eval
[200, 403, 200, 200, 403, 403]
--- response_body eval
[
main::echo_of('/a-only/x', $main::AppA),
'{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}',
main::echo_of('/both/x', $main::AppA),
main::echo_of('/both/x', $main::AppB),
'{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}',
'{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}',
]



=== TEST 3: app_not_allowed: JSON, not cached, logged at info; nothing reaches the upstream
--- init
main::seed('S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA', $main::AppB);
--- more_headers
X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA
--- request
GET /a-only/x
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}
--- error_log
wxauth: request refused: app_not_allowed
--- no_error_log
[error]
[warn]



=== TEST 4: the list is inherited from the enclosing location, and replaced by a location's own
--- init
main::seed('IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ', $main::AppA);
main::seed('S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA', $main::AppB);
--- more_headers eval
[
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
]
--- request eval
["GET /inherit/b/x", "GET /inherit/b/x", "GET /inherit/a/x", "GET /inherit/a/x"]
--- error_code eval
[403, 200, 200, 403]



=== TEST 5: without a list every app's session passes
--- init
main::seed('IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ', $main::AppA);
main::seed('S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA', $main::AppB);
main::seed('FIzV2xPomWTIJmjuREJgxoKuAhpzcul3CHVL8LjBr2o', 'wx4f4bc4dec97d474b');
--- more_headers eval
[
"X-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
"X-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"X-WX-Session: FIzV2xPomWTIJmjuREJgxoKuAhpzcul3CHVL8LjBr2o",
]
--- request eval
["GET /api/x", "GET /api/x", "GET /api/x"]
--- error_code eval
[200, 200, 200]
--- response_body eval
[
main::echo_of('/api/x', $main::AppA),
main::echo_of('/api/x', $main::AppB),
main::echo_of('/api/x', 'wx4f4bc4dec97d474b'),
]



=== TEST 6: the user data handlers honour the list too
--- init
main::seed('S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA', $main::AppB);
main::seed('IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ', $main::AppA);
--- more_headers eval
[
"Content-Type: application/json\nX-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"Content-Type: application/json\nX-WX-Session: S_34_gNI5reAIJkv6nrwie9TWAPRYQDx9BCl25uraaA",
"Content-Type: application/json\nX-WX-Session: IV6KZBmExSWo7_s8uW_V3tCXLUd5Y-kZciYxZ1MH4XQ",
]
--- request eval
[
"POST /a-only/decrypt\n{\"encryptedData\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"iv\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
"POST /a-only/verify\n{\"rawData\":\"{}\",\"signature\":\"0000000000000000000000000000000000000000\"}",
"POST /a-only/verify\n{\"rawData\":\"{}\",\"signature\":\"0000000000000000000000000000000000000000\"}",
]
--- error_code eval
[403, 403, 400]
--- response_body eval
[
'{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}',
'{"error":"app_not_allowed","message":"this location does not accept sessions of that app"}',
'{"error":"signature_mismatch","message":"signature does not match"}',
]



=== TEST 7: single session: logging in again ends the older session of that app
--- more_headers
Content-Type: application/json
--- request eval
["POST /a/login/single\n{\"code\":\"good\"}", "POST /a/login/single\n{\"code\":\"good\"}"]
--- follow_up eval
sub {
    my ($name, $token, $idx) = @_;
    return if $idx == 0;
    my ($first, $second) = @{ $main::Tokens{$name} };

    my ($status, $body) = main::http('GET /api/x', $first);
    Test::More::is($status, 401, "$name - the first login's token is refused");
    Test::More::like($body, qr/^\{"error":"session_expired"/, "$name - as session_expired");
    Test::More::is(WxAuthTest::redis('EXISTS', WxAuthTest::session_key($main::Prefix, $first)), 0,
                   "$name - its record is deleted");

    ($status, $body) = main::http('GET /api/x', $second);
    Test::More::is($status, 200, "$name - the second login's token works");

    my $set = WxAuthTest::user_sessions_key($main::Prefix, $main::AppA, $main::Alice);
    Test::More::is_deeply(WxAuthTest::redis('SMEMBERS', $set),
                          [WxAuthTest::session_key($main::Prefix, $second)],
                          "$name - the user's session set holds the new session only");
    my $ttl = WxAuthTest::redis('TTL', $set);
    Test::More::ok($ttl > 86390 && $ttl <= 86400, "$name - and lives as long as it (TTL $ttl)");
}
--- error_code eval
[200, 200]
--- response_body_like eval
[ ('^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$') x 2 ]



=== TEST 8: single session is per app: logging in to app B leaves the app A session alone
--- more_headers
Content-Type: application/json
--- request eval
["POST /a/login/single\n{\"code\":\"good\"}", "POST /b/login/single\n{\"code\":\"good\"}", "POST /b/login/single\n{\"code\":\"good\"}"]
--- follow_up eval
sub {
    my ($name, $token, $idx) = @_;
    return if $idx < 2;
    my ($a, $b1, $b2) = @{ $main::Tokens{$name} };

    my ($status) = main::http('GET /api/x', $a);
    Test::More::is($status, 200, "$name - the app A session survives the app B logins");
    ($status) = main::http('GET /api/x', $b1);
    Test::More::is($status, 401, "$name - the first app B session ended with the second");
    ($status) = main::http('GET /api/x', $b2);
    Test::More::is($status, 200, "$name - the second app B session works");
}
--- error_code eval
[200, 200, 200]



=== TEST 9: without single session, logging in again leaves the older session alone
--- more_headers
Content-Type: application/json
--- request eval
["POST /a/login\n{\"code\":\"good\"}", "POST /a/login\n{\"code\":\"good\"}"]
--- follow_up eval
sub {
    my ($name, $token, $idx) = @_;
    return if $idx == 0;
    my ($first, $second) = @{ $main::Tokens{$name} };
    my ($status) = main::http('GET /api/x', $first);
    Test::More::is($status, 200, "$name - the first session still works");
    ($status) = main::http('GET /api/x', $second);
    Test::More::is($status, 200, "$name - so does the second");
}
--- error_code eval
[200, 200]



=== TEST 10: single session with renewal: a session kept alive past its first TTL still ends at the next login
TTL 2 s. The first session is used at 1.2 s (renewed to 3.2 s), the user logs
in again at 2.3 s, when the first login's TTL has run out but not the session.
--- more_headers
Content-Type: application/json
--- request
POST /a/login/single-renew
{"code":"good"}
--- follow_up eval
sub {
    my ($name, $first) = @_;
    my $t0 = Time::HiRes::time();

    Time::HiRes::sleep(1.2);
    my ($status) = main::http('GET /api/x', $first);
    Test::More::is($status, 200, "$name - the first session in use at 1.2 s");

    Time::HiRes::sleep($t0 + 2.3 - Time::HiRes::time());
    my $second = main::login('/a/login/single-renew');
    Test::More::ok($second, "$name - a second login at 2.3 s");

    ($status) = main::http('GET /api/x', $first);
    Test::More::is($status, 401, "$name - the first session has ended");
    ($status) = main::http('GET /api/x', $second);
    Test::More::is($status, 200, "$name - the second one works");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":2\}$
