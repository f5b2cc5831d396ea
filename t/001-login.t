# vi:filetype=perl
#
# The login location (wxauth_login): request bodies, the code2session
# exchange with the WeChat stand-in, WeChat's answers, the stored session.
#
# Every successful login is followed up by the response-body check below:
# the record in Redis (fields, TTL) and the token opening a protected location.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use JSON::PP ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt001:';
our $Secret = $WxAuthTest::Secret;

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location = /login {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $Secret;
        wxauth_code2session /_wx/jscode2session;
        wxauth_session_ttl 2h;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    # WeChat labels its JSON text/plain; this one says application/json
    location = /login/json-labelled {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $Secret;
        wxauth_code2session /_wx/json/jscode2session;
        wxauth_session_ttl 2h;
    }

    location = /_wx/json/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/json/sns/jscode2session;
    }

    # an AppSecret WeChat does not know (our misconfiguration: errcode 40125)
    location = /login/wrong-secret {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret notTheRealSecret0000000000000000;
        wxauth_code2session /_wx/jscode2session;
    }

    location /api/ {
        wxauth on;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
    }
_EOC_

# Every block gets the configuration above unless it has its own, and checks
# that nginx logged nothing alarming and never the AppSecret.
add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# The code a block's login request sends (JSON or form body).
sub login_code {
    my $req = shift;
    my (undef, $body) = split /\n/, $req, 2;
    return undef unless defined $body;
    $body =~ s/^\s+|\s+$//g;
    if ($body =~ /^[0-9a-fA-F]+\r\n/) {   # chunked
        my $data = '';
        while ($body =~ /\G([0-9a-fA-F]+)\r\n/gc) {
            my $n = hex $1;
            last if $n == 0;
            $data .= substr($body, pos($body), $n);
            pos($body) = pos($body) + $n + 2;
        }
        $body = $data;
    }
    return JSON::PP->new->decode($1)->{code} if $body =~ /^\s*(\{.*\})\s*$/s;
    for my $pair (split /&/, $body) {
        my ($k, $v) = split /=/, $pair, 2;
        next unless $k eq 'code';
        $v =~ tr/+/ /;
        $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        return $v;
    }
    return undef;
}

my %seen_tokens;

# After a successful login: the session is in Redis as documented, with the
# configured TTL, and its token opens a protected location with the identity.
WxAuthTest::add_checks(on_login => sub {
    my ($block, $token, $expires_in, $req_idx) = @_;
    my $name = $block->name;
    my $req = $block->request;
    $req = $req->[$req_idx] if ref $req eq 'ARRAY';
    my $want = $WxAuthTest::Identity{ login_code($req) // '' };
    ok($want, "$name - the login used a code the stand-in accepts") or return;

    ok(!$seen_tokens{$token}++, "$name - the token is new");
    is($expires_in, 7200, "$name - expires_in is the session TTL");

    my ($rec, $ttl, $raw) = WxAuthTest::stored_session($Prefix, $token);
    ok($rec, "$name - the session is stored under ${Prefix}s:<sha256 of the token>")
        or return diag("stored value: " . ($raw // '(none)'));
    is($rec->{v}, 1, "$name - record version");
    is($rec->{openid}, $want->{openid}, "$name - record openid");
    is($rec->{unionid}, $want->{unionid}, "$name - record unionid (absent when WeChat gave none)");
    is($rec->{session_key}, $WxAuthTest::SessionKey, "$name - record session_key");
    is($rec->{appid}, $WxAuthTest::AppId, "$name - record appid");
    ok(defined $rec->{iat} && abs($rec->{iat} - time) <= 10, "$name - record iat is now");
    ok($ttl > 7200 - 10 && $ttl <= 7200, "$name - the record expires with the session ($ttl s)");
    ok(index($raw, $token) < 0, "$name - the record does not hold the token itself");

    my ($status, undef, $echo) = WxAuthTest::http_request(
        server_port_for_client(), 'GET /api/me', { 'X-WX-Session' => $token });
    is($status, 200, "$name - the new session opens /api/");
    is($echo, "upstream GET /api/me openid=[$want->{openid}] unionid=["
              . ($want->{unionid} // '') . "] appid=[$WxAuthTest::AppId] session=[$token]\n",
       "$name - the upstream gets the identity of the new session");
});

# nginx's port, for the clients the blocks' --- init start themselves
sub port { server_port_for_client() }

no_shuffle();
run_tests();

__DATA__

=== TEST 1: JSON body: 200, a new session, no client header reaches WeChat
--- more_headers
Content-Type: application/json
Cookie: sid=client-cookie
X-WX-Session: some-old-session-the-client-still-sends
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$
--- error_log
wxauth: login succeeded for app "wx51a4cc1e0a5e0001"
--- no_error_log
[error]



=== TEST 2: JSON body, media type with parameters and odd case
--- more_headers
Content-Type: Application/JSON; charset=utf-8
--- request
POST /login
{"foo": [1, {"code": "not this one"}], "code": "good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 3: form body
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
from=miniprogram&code=good&x=1
--- error_code: 200
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 4: form body, percent-encoded code
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
code=go%6Fd
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 5: no Content-Type, JSON sniffed; WeChat gives no unionid
--- request
POST /login
{"code":"nounion"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 6: no Content-Type, form sniffed
--- request
POST /login
code=nounion
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 7: another Content-Type, JSON sniffed
--- more_headers
Content-Type: text/plain
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 8: WeChat's answer with "errcode":0 and fields we do not know
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"errcode0"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 9: WeChat's answer labelled application/json
--- more_headers
Content-Type: application/json
--- request
POST /login/json-labelled
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 10: the code is URL-encoded in the query: it cannot add arguments
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"a&secret=x"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 11: a body of 4096 bytes is accepted
--- more_headers
Content-Type: application/json
--- request eval
"POST /login\n" . '{"code":"good","pad":"' . ('x' x 4072) . '"}'
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 12: a code of 128 bytes goes to WeChat
--- more_headers
Content-Type: application/json
--- request eval
"POST /login\n" . '{"code":"' . ('C' x 128) . '"}'
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"invalid_code","message":"[^"]+","wx_errcode":40029\}$
--- error_log
wxauth: login refused: invalid_code (WeChat errcode 40029)



=== TEST 13: GET: 405 with Allow
--- request
GET /login
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"method_not_allowed","message":"[^"]+"\}$



=== TEST 14: PUT with a body: 405
--- more_headers
Content-Type: application/json
--- request
PUT /login
{"code":"good"}
--- error_code: 405
--- response_headers
Allow: POST
--- response_body_like: ^\{"error":"method_not_allowed","message":"[^"]+"\}$



=== TEST 15: HEAD: 405 without a body
--- request
HEAD /login
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body



=== TEST 16: JSON without a code
--- more_headers
Content-Type: application/json
--- request
POST /login
{"js_code":"good"}
--- error_code: 400
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$
--- error_log
wxauth: login refused: invalid_request



=== TEST 17: JSON with an empty code
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":""}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 18: JSON with a code that is not a string
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":12345}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 19: broken JSON
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"good"
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 20: JSON that is not an object
--- more_headers
Content-Type: application/json
--- request
POST /login
["good"]
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 21: declared JSON, form body
--- more_headers
Content-Type: application/json
--- request
POST /login
code=good
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 22: form without a code
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
js_code=good&codex=good
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 23: form with an empty code
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
code=&x=1
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 24: form with a broken escape
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
code=go%zzod
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 25: no body at all
--- more_headers
Content-Type: application/json
Content-Length: 0
--- request
POST /login
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 26: a code of 129 bytes
--- more_headers
Content-Type: application/json
--- request eval
"POST /login\n" . '{"code":"' . ('C' x 129) . '"}'
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 27: a code with a space (form '+')
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /login
code=go+od
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 28: a code with a control character (JSON escape)
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"go\u0001od"}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 29: a code that is not ASCII
--- more_headers
Content-Type: application/json
--- request
POST /login
{"code":"g\u00f6od"}
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 30: a body over 4096 bytes
--- more_headers
Content-Type: application/json
--- request eval
"POST /login\n" . '{"code":"good","pad":"' . ('x' x 4073) . '"}'
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 31: a much larger body is refused too
--- more_headers
Content-Type: application/json
--- request eval
"POST /login\n" . '{"code":"good","pad":"' . ('x' x 100000) . '"}'
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$



=== TEST 32: WeChat 40029 (invalid code): 401 invalid_code
--- request
POST /login
{"code":"expired-or-made-up"}
--- error_code: 401
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"invalid_code","message":"[^"]+","wx_errcode":40029\}$
--- error_log
wxauth: login refused: invalid_code (WeChat errcode 40029)
--- no_error_log
[error]



=== TEST 33: WeChat 40163 (code already used): 401 invalid_code
--- request
POST /login
{"code":"used"}
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_code","message":"[^"]+","wx_errcode":40163\}$



=== TEST 34: WeChat errcode as a string
--- request
POST /login
{"code":"strcode"}
--- error_code: 401
--- response_body_like: ^\{"error":"invalid_code","message":"[^"]+","wx_errcode":40029\}$



=== TEST 35: WeChat 40226 (high-risk user): 403 user_blocked
--- request
POST /login
{"code":"blocked"}
--- error_code: 403
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"user_blocked","message":"[^"]+","wx_errcode":40226\}$
--- error_log
[warn]
wxauth: login refused: user_blocked (WeChat errcode 40226)



=== TEST 36: WeChat 45011 (rate limit): 429 rate_limited
--- request
POST /login
{"code":"limited"}
--- error_code: 429
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"rate_limited","message":"[^"]+","wx_errcode":45011\}$
--- error_log
wxauth: login refused: rate_limited (WeChat errcode 45011)



=== TEST 37: WeChat -1 (busy): 502 wechat_unavailable
--- request
POST /login
{"code":"busy"}
--- error_code: 502
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+","wx_errcode":-1\}$
--- error_log eval
qr/\[error\] .*wxauth: login refused: wechat_unavailable \(WeChat errcode -1\)/



=== TEST 38: an errcode nobody told us about: 502 wechat_unavailable
--- request
POST /login
{"code":"unknownerr"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+","wx_errcode":61234\}$



=== TEST 39: WeChat 40013 (wrong appid, our misconfiguration): 502, logged at error level
--- request
POST /login
{"code":"badappid"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+","wx_errcode":40013\}$
--- error_log eval
qr/\[error\] .*wxauth: WeChat refused appid "wx51a4cc1e0a5e0001" or its secret \(errcode 40013\)/



=== TEST 40: WeChat 40125 (wrong secret, our misconfiguration): 502, logged at error level
--- request
POST /login/wrong-secret
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+","wx_errcode":40125\}$
--- error_log eval
qr/\[error\] .*wxauth: WeChat refused appid "wx51a4cc1e0a5e0001" or its secret \(errcode 40125\)/
--- no_error_log
notTheRealSecret



=== TEST 41: WeChat answers 500: 502 wechat_unavailable, no wx_errcode
--- request
POST /login
{"code":"http500"}
--- error_code: 502
--- response_headers
Content-Type: application/json
Cache-Control: no-store
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
wxauth: the code2session location answered with status 500



=== TEST 42: WeChat answers 404: 502 wechat_unavailable
--- request
POST /login
{"code":"http404"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$



=== TEST 43: WeChat answers something that is not JSON
--- request
POST /login
{"code":"garbage"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
wxauth: unusable answer from WeChat



=== TEST 44: WeChat answers JSON followed by garbage
--- request
POST /login
{"code":"trailing"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$



=== TEST 45: WeChat answers an empty body
--- request
POST /login
{"code":"emptybody"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$



=== TEST 46: WeChat answers without openid
--- request
POST /login
{"code":"noopenid"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
wxauth: unusable answer from WeChat: missing openid



=== TEST 47: WeChat answers without session_key
--- request
POST /login
{"code":"nokey"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$
--- error_log
wxauth: unusable answer from WeChat: missing session_key



=== TEST 48: WeChat answers a session_key that is not 16 bytes
--- request
POST /login
{"code":"shortkey"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+"\}$



=== TEST 49: control: the stand-in refuses a request that carries client headers
--- config eval
$::Config . <<"_EOC_";
    location = /login/dirty {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/dirty/jscode2session;
    }

    location = /_wx/dirty/jscode2session {
        internal;
        proxy_set_header Cookie "sid=client-cookie";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }
_EOC_
--- request
POST /login/dirty
{"code":"good"}
--- error_code: 502
--- response_body_like: ^\{"error":"wechat_unavailable","message":"[^"]+","wx_errcode":40125\}$



=== TEST 50: WeChat answers chunked on kept-alive HTTP/1.1 connections: three logins in a row
--- http_config eval
$::HttpConfig . <<"_EOC_";
    upstream wechat_keepalive {
        server 127.0.0.1:\$TEST_NGINX_WECHAT_PORT;
        keepalive 2;
    }
_EOC_
--- config eval
$::Config . <<"_EOC_";
    location = /login/keepalive {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/keepalive/jscode2session;
        wxauth_session_ttl 2h;
    }

    location = /_wx/keepalive/jscode2session {
        internal;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass http://wechat_keepalive/chunked/sns/jscode2session;
    }
_EOC_
--- request eval
[("POST /login/keepalive\n{\"code\":\"good\"}") x 3]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[('^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$') x 3]



=== TEST 51: a WeChat answer larger than subrequest_output_buffer_size: no hang, nginx lives on
# nginx itself fails the in-memory subrequest ("too big subrequest response")
# and marks the client connection in error: that login gets no answer at all
# (or a 502, should nginx ever allow one), promptly; the next login works.
--- config eval
$::Config . <<"_EOC_";
    location = /login/big {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/big/jscode2session;
        wxauth_session_ttl 2h;
    }

    location = /_wx/big/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/big/sns/jscode2session;
    }
_EOC_
--- init
my $t0 = Time::HiRes::time();
my ($status, undef, $body) = WxAuthTest::http_request(main::port(), 'POST /login/big',
    { 'Content-Type' => 'application/json' }, '{"code":"good"}');
Test::More::ok(!defined $status
               || ($status == 502 && $body =~ /"error":"wechat_unavailable"/),
               "a too big WeChat answer: no answer or 502 wechat_unavailable ("
               . ($status // 'connection closed') . ")");
Test::More::ok(Time::HiRes::time() - $t0 < 5, "a too big WeChat answer: no hang");
--- request
POST /login
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$
--- error_log
too big subrequest response



=== TEST 52: ... and accepted once the WeChat location's subrequest_output_buffer_size allows it
--- config eval
$::Config . <<"_EOC_";
    location = /login/big {
        wxauth_login;
        wxauth_appid $WxAuthTest::AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/big/jscode2session;
        wxauth_session_ttl 2h;
    }

    location = /_wx/big/jscode2session {
        internal;
        subrequest_output_buffer_size 16k;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/big/sns/jscode2session;
    }
_EOC_
--- request
POST /login/big
{"code":"good"}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 53: a chunked login body
--- more_headers
Content-Type: application/json
Transfer-Encoding: chunked
--- request eval
"POST /login\n" . "8\r\n{\"code\":\r\n7\r\n\"good\"}\r\n0\r\n\r\n"
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":7200\}$



=== TEST 54: a chunked login body over 4096 bytes
--- more_headers
Content-Type: application/json
Transfer-Encoding: chunked
--- request eval
my $body = '{"code":"good","pad":"' . ('x' x 5000) . '"}';
"POST /login\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body)
--- error_code: 400
--- response_body_like: ^\{"error":"invalid_request","message":"[^"]+"\}$
