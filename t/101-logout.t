# vi:filetype=perl
#
# The logout location (wxauth_logout): POST or DELETE with the session token
# deletes the session record in Redis; the token then opens nothing any more.
#
# Sessions are seeded straight into Redis from --- init (which runs once nginx
# is up, before the block's requests), so that the token is known to the
# block's sections. The last blocks log in for real through the WeChat
# stand-in and follow the new token with the response-body check below.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;

WxAuthTest::setup_ports();
$ENV{TEST_NGINX_CLOSED_PORT} ||= WxAuthTest::free_port();

our $Prefix = 'wxt101:';
our $AppId  = $WxAuthTest::AppId;

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /logout {
        wxauth_logout;
    }

    # the token from a cookie instead of the X-WX-Session header
    location = /logout/cookie {
        wxauth_token \$cookie_wx_session;
        wxauth_logout;
    }

    location = /login {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# seed(token, openid = oAlice, ttl = 600)
sub seed {
    my ($token, $openid, $ttl) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token,
                             openid => $openid || 'oAlice-6Yk2QfPZ',
                             unionid => 'uAlice-Lr0Wx3Tn', appid => $AppId, ttl => $ttl || 600);
}

# Checks beyond the response, through "eval" sections holding a sub:
# - --- check_after: called after each response with (name, body, index);
# - --- follow_up: called for each response that carries a new session token,
#   with (name, token, index), to go on from there with requests of its own.
WxAuthTest::add_checks();

# http(method_and_uri, token?, headers?) -> (status, body) on the server under test
sub http {
    my ($line, $token, $headers) = @_;
    my %h = %{ $headers || {} };
    $h{'X-WX-Session'} = $token if defined $token;
    my ($status, undef, $body) = WxAuthTest::http_request(server_port_for_client(), $line, \%h);
    return ($status, $body);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: POST with the token: 200, the session is gone (the token gets session_expired)
--- init
main::seed('PKcznwpOA7ISKhBrAHSGBsM_ZMPppxobacTROiLrre0');
--- more_headers
X-WX-Session: PKcznwpOA7ISKhBrAHSGBsM_ZMPppxobacTROiLrre0
--- request eval
["GET /api/me", "POST /logout", "GET /api/me", "POST /logout"]
--- error_code eval
[200, 200, 401, 401]
--- response_body eval
[
"upstream GET /api/me openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n",
'{"logged_out":true}',
'{"error":"session_expired","message":"session is unknown or expired"}',
'{"error":"session_expired","message":"session is unknown or expired"}',
]



=== TEST 2: the answer: JSON, not cached; logged at info
--- init
main::seed('YqzFyLwqZ7Cex9L6_qTMg7oHzq43YmAmFaj0curnM8s');
--- more_headers
X-WX-Session: YqzFyLwqZ7Cex9L6_qTMg7oHzq43YmAmFaj0curnM8s
--- request
POST /logout
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body chomp
{"logged_out":true}
--- error_log
wxauth: session ended by logout
--- no_error_log
[error]



=== TEST 3: the record is deleted from Redis, not merely refused
--- init
main::seed('jhFLVoyfauIrHszCdd9k7jGz5sRetmy1pZLBrm5q3eE');
--- more_headers
X-WX-Session: jhFLVoyfauIrHszCdd9k7jGz5sRetmy1pZLBrm5q3eE
--- request
POST /logout
--- check_after eval
sub {
    my ($name) = @_;
    my $key = WxAuthTest::session_key($main::Prefix, 'jhFLVoyfauIrHszCdd9k7jGz5sRetmy1pZLBrm5q3eE');
    Test::More::is(WxAuthTest::redis('EXISTS', $key), 0, "$name - the record $key is gone");
}
--- error_code: 200
--- response_body chomp
{"logged_out":true}



=== TEST 4: DELETE works as well
--- init
main::seed('04PP8QlZQmR3C2oVAS3VZ3WIbQ9ArFaq3XT16eheYok');
--- more_headers
X-WX-Session: 04PP8QlZQmR3C2oVAS3VZ3WIbQ9ArFaq3XT16eheYok
--- request eval
["DELETE /logout", "GET /api/me"]
--- error_code eval
[200, 401]
--- response_body eval
[
'{"logged_out":true}',
'{"error":"session_expired","message":"session is unknown or expired"}',
]



=== TEST 5: only the session of the token ends: the user's other session stays
--- init
main::seed('HNAplANVT3xKPG1Va_94AllNZhXxshmzwgiS5p0CQSI');
main::seed('5ArH8amJoGQ2vbh6udLE-mnX7TUhnHR512B6a_6lhRQ');
--- more_headers eval
[
"X-WX-Session: HNAplANVT3xKPG1Va_94AllNZhXxshmzwgiS5p0CQSI",
"X-WX-Session: HNAplANVT3xKPG1Va_94AllNZhXxshmzwgiS5p0CQSI",
"X-WX-Session: 5ArH8amJoGQ2vbh6udLE-mnX7TUhnHR512B6a_6lhRQ",
]
--- request eval
["POST /logout", "GET /api/me", "GET /api/me"]
--- error_code eval
[200, 401, 200]
--- response_body eval
[
'{"logged_out":true}',
'{"error":"session_expired","message":"session is unknown or expired"}',
"upstream GET /api/me openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n",
]



=== TEST 6: a well-formed token nobody knows: 401 session_expired
--- more_headers
X-WX-Session: saNfcX0Qf5QyzL0ofSuD6nbvsOD9xoDpf3CDRBVa96k
--- request
POST /logout
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"session_expired","message":"session is unknown or expired"}
--- error_log
wxauth: request refused: session_expired
--- no_error_log
[error]



=== TEST 7: no token: 401 missing_session
--- request
POST /logout
--- error_code: 401
--- response_body chomp
{"error":"missing_session","message":"no session token in the request"}
--- error_log
wxauth: request refused: missing_session



=== TEST 8: an empty header is no token either
--- more_headers
X-WX-Session:
--- request
DELETE /logout
--- error_code: 401
--- response_body chomp
{"error":"missing_session","message":"no session token in the request"}



=== TEST 9: malformed tokens: 401 invalid_session
--- more_headers eval
[
"X-WX-Session: short",
"X-WX-Session: WPdXZ7ZtvLOonhOefmNL-Nbd-nyxAbmYXoYtCAbAHA",
"X-WX-Session: WPdXZ7ZtvLOonhOefmNL-Nbd-nyxAbmYXoYtCAbAHAIx",
"X-WX-Session: WPdXZ7ZtvLOonhOefmNL+Nbd/nyxAbmYXoYtCAbAHAI",
"X-WX-Session: WPdXZ7ZtvLOonhOefmNL-Nbd-nyxAbmYXoYtCAbAHA=",
]
--- request eval
["POST /logout", "POST /logout", "POST /logout", "POST /logout", "POST /logout"]
--- error_code eval
[401, 401, 401, 401, 401]
--- response_body eval
[
'{"error":"invalid_session","message":"session token is malformed"}',
'{"error":"invalid_session","message":"session token is malformed"}',
'{"error":"invalid_session","message":"session token is malformed"}',
'{"error":"invalid_session","message":"session token is malformed"}',
'{"error":"invalid_session","message":"session token is malformed"}',
]



=== TEST 10: other methods: 405 with Allow, and the session is left alone
--- init
main::seed('OLsHLOo9Sy-Rc8XZtoQIp68tbnkv_F4cu0hq5M0lBBA');
--- more_headers
X-WX-Session: OLsHLOo9Sy-Rc8XZtoQIp68tbnkv_F4cu0hq5M0lBBA
--- request eval
["GET /logout", "PUT /logout\n{}", "PATCH /logout", "GET /api/me"]
--- error_code eval
[405, 405, 405, 200]
--- response_headers eval
["Allow: POST, DELETE", "Allow: POST, DELETE", "Allow: POST, DELETE", "!Allow"]
--- response_body eval
[
'{"error":"method_not_allowed","message":"method not allowed"}',
'{"error":"method_not_allowed","message":"method not allowed"}',
'{"error":"method_not_allowed","message":"method not allowed"}',
"upstream GET /api/me openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]\n",
]



=== TEST 11: a request body (JSON, as clients send one) does not matter
--- init
main::seed('5iK_r4cM1VI88D_5n2toHS5mSkOM-4eCChmWoODRWCs');
--- more_headers
Content-Type: application/json
X-WX-Session: 5iK_r4cM1VI88D_5n2toHS5mSkOM-4eCChmWoODRWCs
--- request eval
["POST /logout\n{\"reason\":\"user pressed logout\"}", "GET /api/me"]
--- error_code eval
[200, 401]
--- response_body eval
[
'{"logged_out":true}',
'{"error":"session_expired","message":"session is unknown or expired"}',
]



=== TEST 12: wxauth_token: the token comes from the cookie, the header is not looked at
--- init
main::seed('uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s');
--- more_headers eval
[
"X-WX-Session: uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s",
"Cookie: theme=dark; wx_session=uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s",
"X-WX-Session: uhZzsSR4tdM8A1btFsO7wuc9chmMOPCDrTZiIOAII4s",
]
--- request eval
["POST /logout/cookie", "POST /logout/cookie", "GET /api/me"]
--- error_code eval
[401, 200, 401]
--- response_body eval
[
'{"error":"missing_session","message":"no session token in the request"}',
'{"logged_out":true}',
'{"error":"session_expired","message":"session is unknown or expired"}',
]



=== TEST 13: Redis unreachable: 503 store_unavailable, the session is not reported ended
--- config
    wxauth_redis 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    wxauth_redis_timeout 500ms;

    location = /logout {
        wxauth_logout;
    }
--- more_headers
X-WX-Session: 8i4HMEslYwrBLVxmU3izb10qv3jQjNGWPdDfeptEHgc
--- request
POST /logout
--- error_code: 503
--- response_body chomp
{"error":"store_unavailable","message":"session store unavailable"}
--- error_log
wxauth: request refused: store_unavailable



=== TEST 14: a real login, then: the new token works, logout ends it, a second logout finds nothing
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"good"}
--- follow_up eval
sub {
    my ($name, $token) = @_;
    my ($status, $body) = main::http('GET /api/me', $token);
    Test::More::is($status, 200, "$name - the new token opens /api/");
    Test::More::like($body, qr/openid=\[oAlice-6Yk2QfPZ\]/, "$name - with the identity of the login");

    ($status, $body) = main::http('POST /logout', $token);
    Test::More::is($status, 200, "$name - logout: 200");
    Test::More::is($body, '{"logged_out":true}', "$name - logout: body");

    ($status, $body) = main::http('GET /api/me', $token);
    Test::More::is($status, 401, "$name - after logout the token is refused");
    Test::More::like($body, qr/"error":"session_expired"/, "$name - as session_expired");

    ($status, $body) = main::http('DELETE /logout', $token);
    Test::More::is($status, 401, "$name - a second logout: 401");
    Test::More::like($body, qr/"error":"session_expired"/, "$name - a second logout: session_expired");

    Test::More::is(WxAuthTest::redis('EXISTS', WxAuthTest::session_key($main::Prefix, $token)), 0,
       "$name - no record is left for the token");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":\d+\}$



=== TEST 15: logging out of one login leaves the user's other login alone
--- more_headers
Content-Type: application/json
--- request eval
["POST /login\n{\"code\":\"good\"}", "POST /login\n{\"code\":\"good\"}"]
--- follow_up eval
sub {
    my ($name, $token, $req_idx) = @_;
    push @main::Tokens15, $token;
    return if $req_idx == 0;

    my ($first, $second) = @main::Tokens15;
    Test::More::isnt($first, $second, "$name - two logins, two tokens");

    my ($status) = main::http('POST /logout', $first);
    Test::More::is($status, 200, "$name - the first login is logged out");
    ($status) = main::http('GET /api/me', $first);
    Test::More::is($status, 401, "$name - its token is refused");
    ($status) = main::http('GET /api/me', $second);
    Test::More::is($status, 200, "$name - the token of the second login still works");
}
--- error_code eval
[200, 200]
--- response_body_like eval
['^\{"session":"[A-Za-z0-9_-]{43}","expires_in":\d+\}$', '^\{"session":"[A-Za-z0-9_-]{43}","expires_in":\d+\}$']
