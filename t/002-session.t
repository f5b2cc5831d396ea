# vi:filetype=perl
#
# The session check (wxauth on): the token, the lookup in Redis, the identity
# that reaches the upstream, and the refusals. Sessions are seeded straight
# into Redis from each block's --- init (which runs once nginx is up, before
# the block's requests); tokens are arbitrary well-formed ones (43 base64url
# characters).
#
# The protected location is configured the way examples/nginx.conf does it:
# the identity goes to the upstream with proxy_set_header, which also keeps
# whatever a client sent under those names from reaching the upstream.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;

WxAuthTest::setup_ports();

our $Prefix = 'wxt002:';
our $AppId  = $WxAuthTest::AppId;

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers

    map \$http_authorization \$wx_bearer {
        "~^Bearer (?<t>\\S+)\$"  \$t;
    }
_EOC_

our $Config = <<"_EOC_";
    # the whole server needs a session, except where it says otherwise
    wxauth on;

    location /api/ {
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /cookie/ {
        wxauth_token \$cookie_wx_session;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /bearer/ {
        wxauth_token \$wx_bearer;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location /public/ {
        wxauth off;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    # try_files hands the request over to a named location (an internal redirect)
    location /redirected/ {
        try_files /nonexistent-file \@backend;
    }

    location \@backend {
        wxauth off;   # the request was checked in /redirected/ already
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /login {
        wxauth off;
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    # under the server's "wxauth on": the module's subrequest is not checked
    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# seed(token, openid, unionid or undef, ttl = 600)
sub seed {
    my ($token, $openid, $unionid, $ttl) = @_;
    WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid,
                             unionid => $unionid, appid => $AppId, ttl => $ttl || 600);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid session: the upstream gets the identity
--- init
main::seed('BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile?x=1
--- error_code: 200
--- response_body
upstream GET /api/profile?x=1 openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]
--- no_error_log
[error]
wxauth: request refused



=== TEST 2: the client's own identity headers do not reach the upstream
--- init
main::seed('BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-OpenID: oSomeoneElse
X-WX-UnionID: uSomeoneElse
X-WX-AppID: wxSomeOtherApp
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
x-wx-openid: oSomeoneElseAgain
--- request
GET /api/profile
--- error_code: 200
--- response_body
upstream GET /api/profile openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 3: a session without unionid: the client's X-WX-UnionID does not pass either
--- init
main::seed('WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8', 'oBob-8Hd1MeRV', undef);
--- more_headers
X-WX-UnionID: uSomeoneElse
X-WX-OpenID: oSomeoneElse
X-WX-Session: WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8
--- request
GET /api/profile
--- error_code: 200
--- response_body
upstream GET /api/profile openid=[oBob-8Hd1MeRV] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 4: the header name is case-insensitive
--- init
main::seed('WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8', 'oBob-8Hd1MeRV', undef);
--- more_headers
x-wx-session: WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8
--- request
GET /api/profile
--- error_code: 200
--- response_body
upstream GET /api/profile openid=[oBob-8Hd1MeRV] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 5: a record with fields this version does not know is still a session
--- init
WxAuthTest::seed_session(prefix => $main::Prefix,
    token => 'BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', ttl => 600,
    raw => '{"v":1,"openid":"oAlice-6Yk2QfPZ","session_key":"HyVFkGl5F5OQWJZZaNzBBg==","appid":"wx51a4cc1e0a5e0001","iat":1700000000,"later":{"x":[1,2]},"flag":true}');
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
--- request
GET /api/profile
--- error_code: 200
--- response_body
upstream GET /api/profile openid=[oAlice-6Yk2QfPZ] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 6: no token: 401 missing_session, the upstream is not reached
--- request
GET /api/profile
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$
--- error_log
wxauth: request refused: missing_session
--- no_error_log
[error]



=== TEST 7: an empty X-WX-Session header: 401 missing_session
--- more_headers
X-WX-Session:
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$



=== TEST 8: a token of 42 characters: 401 invalid_session
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iC
--- request
GET /api/profile
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$
--- error_log
wxauth: request refused: invalid_session



=== TEST 9: a token of 44 characters: 401 invalid_session
--- init
main::seed('BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCsA
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$



=== TEST 10: a token in standard base64 ('+', '/'): 401 invalid_session
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6+/s
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$



=== TEST 11: a padded token: 401 invalid_session
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iC=
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$



=== TEST 12: a well-formed token nobody issued: 401 session_expired
--- more_headers
X-WX-Session: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
--- request
GET /api/profile
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"session_expired","message":"[^"]+"\}$
--- error_log
wxauth: request refused: session_expired
--- no_error_log
[error]



=== TEST 13: a session that expires in 2 s works until then
--- init
main::seed('ZU3VSN54kzsPhtIdp5Lph8k3p0WHRZ1S0HbdgXUolLo', 'oBob-8Hd1MeRV', undef, 2);
--- more_headers
X-WX-Session: ZU3VSN54kzsPhtIdp5Lph8k3p0WHRZ1S0HbdgXUolLo
--- request
GET /api/profile
--- error_code: 200
--- response_body
upstream GET /api/profile openid=[oBob-8Hd1MeRV] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 14: a session seeded with a 1 s TTL is gone 1.6 s later: 401 session_expired
--- init
main::seed('JN6bndsTL1wZe_hnY2TiZ3nIgs4Ni2aJz49jp5Zz4LA', 'oBob-8Hd1MeRV', undef, 1);
Time::HiRes::sleep(1.6);
--- more_headers
X-WX-Session: JN6bndsTL1wZe_hnY2TiZ3nIgs4Ni2aJz49jp5Zz4LA
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"session_expired","message":"[^"]+"\}$



=== TEST 15: an unreadable record: 401 session_expired, logged
--- init
WxAuthTest::seed_session(prefix => $main::Prefix,
    token => 'S633sOLnzp9qF2lWfhyZPWuQyfSCNDDYELvSnz6qYaw', ttl => 600,
    raw => 'not a session record');
--- more_headers
X-WX-Session: S633sOLnzp9qF2lWfhyZPWuQyfSCNDDYELvSnz6qYaw
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"session_expired","message":"[^"]+"\}$
--- error_log
wxauth: unreadable session record in redis



=== TEST 16: Redis answers the lookup with an error (WRONGTYPE): 503 store_unavailable
--- init
my $key = WxAuthTest::session_key($main::Prefix, 'FsZjiwLSzR_5uFVeLEEFdnxafR2CPts61nPir6XobyY');
WxAuthTest::redis('DEL', $key);
WxAuthTest::redis('RPUSH', $key, 'not', 'a', 'string');
WxAuthTest::redis('EXPIRE', $key, 600);
--- more_headers
X-WX-Session: FsZjiwLSzR_5uFVeLEEFdnxafR2CPts61nPir6XobyY
--- request
GET /api/profile
--- error_code: 503
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/\[error\] .*wxauth: redis answered the session lookup with an error: WRONGTYPE/,
 'wxauth: request refused: store_unavailable']



=== TEST 17: a session stored under another prefix is not ours
--- init
WxAuthTest::seed_session(prefix => 'wxt002-other:',
    token => 'q-U9t8BBL2B1Y6GH0b2eiCyBPB391TdEtYA5IRQT-ho', openid => 'oAlice-6Yk2QfPZ',
    appid => $WxAuthTest::AppId, ttl => 600);
--- more_headers
X-WX-Session: q-U9t8BBL2B1Y6GH0b2eiCyBPB391TdEtYA5IRQT-ho
--- request
GET /api/profile
--- error_code: 401
--- response_body_like: ^\{"error":"session_expired","message":"[^"]+"\}$



=== TEST 18: wxauth_token from a cookie
--- init
main::seed('_q9-ib17W-Lqizs9lxaaiIUUaHgtbt7k-R5qEnpaxjc', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
Cookie: theme=dark; wx_session=_q9-ib17W-Lqizs9lxaaiIUUaHgtbt7k-R5qEnpaxjc; lang=zh_CN
--- request
GET /cookie/cart
--- error_code: 200
--- response_body
upstream GET /cookie/cart openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 19: wxauth_token from a cookie: the X-WX-Session header is not looked at
--- init
main::seed('_q9-ib17W-Lqizs9lxaaiIUUaHgtbt7k-R5qEnpaxjc', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-Session: _q9-ib17W-Lqizs9lxaaiIUUaHgtbt7k-R5qEnpaxjc
Cookie: theme=dark
--- request
GET /cookie/cart
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$



=== TEST 20: wxauth_token from a cookie: a malformed cookie value
--- more_headers
Cookie: wx_session=not-a-token
--- request
GET /cookie/cart
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_session","message":"[^"]+"\}$



=== TEST 21: wxauth_token from a map of the Authorization header
--- init
main::seed('s6XbPkIR3_Qk6w7Qm2yOKTL887KX9Wi2rVAApbdUGNQ', 'oBob-8Hd1MeRV', undef);
--- more_headers
Authorization: Bearer s6XbPkIR3_Qk6w7Qm2yOKTL887KX9Wi2rVAApbdUGNQ
--- request
GET /bearer/orders
--- error_code: 200
--- response_body
upstream GET /bearer/orders openid=[oBob-8Hd1MeRV] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 22: wxauth off in a location of a protected server
--- more_headers
X-WX-OpenID: oSomeoneElse
--- request
GET /public/news
--- error_code: 200
--- response_body
upstream GET /public/news openid=[] unionid=[] appid=[] session=[]
--- no_error_log
wxauth: request refused



=== TEST 23: a refused POST: 401, its body is not passed on
--- more_headers
Content-Type: application/json
--- request
POST /api/orders
{"item":"tea","count":2}
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$



=== TEST 24: a POST with a session reaches the upstream
--- init
main::seed('WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8', 'oBob-8Hd1MeRV', undef);
--- more_headers
Content-Type: application/json
X-WX-Session: WYvh_4IF8_8zMAb_gjB51LUjwYIn2D9jW7XJdopPvm8
--- request
POST /api/orders
{"item":"tea","count":2}
--- error_code: 200
--- response_body
upstream POST /api/orders openid=[oBob-8Hd1MeRV] unionid=[] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 25: the login location works inside a protected server (wxauth off there)
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 26: an internal redirect after the check keeps the identity (try_files to a named location)
# nginx clears every module's context on an internal redirect; the module
# recovers its own from the request pool, so the identity stays.
--- init
main::seed('BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
X-WX-OpenID: oSomeoneElse
--- request
GET /redirected/profile
--- error_code: 200
--- response_body
upstream GET /redirected/profile openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]



=== TEST 27: an internal redirect after the check: never a spoofed identity
--- init
main::seed('BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs', 'oAlice-6Yk2QfPZ', 'uAlice-Lr0Wx3Tn');
--- more_headers
X-WX-Session: BwvNtYCy4fKXBNsB3fpRxGZP195ngCuI5pvlxQH6iCs
X-WX-OpenID: oSomeoneElse
X-WX-UnionID: uSomeoneElse
--- request
GET /redirected/profile
--- error_code: 200
--- response_body_like: ^upstream GET /redirected/profile openid=\[(?:oAlice-6Yk2QfPZ)?\] unionid=\[(?:uAlice-Lr0Wx3Tn)?\] appid=\[(?:wx51a4cc1e0a5e0001)?\] session=\[\]$



=== TEST 28: a request that fails the check is not redirected
--- request
GET /redirected/profile
--- error_code: 401
--- response_body_like: ^\{"error":"missing_session","message":"[^"]+"\}$
