# vi:filetype=perl
#
# The Redis event adapter when Redis closes the worker's connection (regression
# tests, see src/ngx_http_wxauth_redis.cpp):
#
# - a Redis that closes the connection now and then (CLIENT KILL, a restart,
#   its idle `timeout`), also without AUTH / SELECT (no password=, no db=),
#   costs a moment each time, not seconds of 503 store_unavailable that
#   double with every close (the connection is reopened at once);
# - a close that arrives together with the last reply (one edge-triggered
#   event, and the FIN adds no unread byte) is seen at once: the next command
#   is not written to a dead connection.
#
# Two Redis servers of this suite's own, so that nothing here touches the
# shared test Redis or its other clients:
#
#   TEST_NGINX_OWN_REDIS_PORT   a private redis-server (t/lib/WxAuthStandIns.pm; its only ordinary
#                               clients are the nginx worker and this test,
#                               so CLIENT KILL TYPE normal - which skips the
#                               caller - closes the worker's connection only)
#   TEST_NGINX_FAKE_REDIS_PORT  a stand-in speaking just enough RESP for the
#                               session check (GET and PTTL, pipelined); for
#                               one token it answers while the worker is
#                               stopped (SIGSTOP) and closes right behind the
#                               answer, so that reply and FIN reach the worker
#                               in one event when it goes on (SIGCONT)
#
# Both are started by t/lib/WxAuthStandIns.pm and stopped when the suite ends
# ($TEST_NGINX_REDIS_SERVER names the redis-server binary, default: from PATH).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use POSIX ();
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt007:';
our $AppId  = $WxAuthTest::AppId;

our $Alice      = 'xq1mK0b9T3-vRj5Zp2LhWc8Nf4Ds7Gy6Ea0Uo1Ii2Kk';   # plain lookups
our $CloseToken = 'Zc7Q2nVr5Lm8Xp1Kd4Hs6Jt9Wb3Gf0Ty2Ne5Ra8Uq1O';   # fake Redis closes after it

#---------------------------------------------------------------------------
# A private redis-server

sub start_own_redis {
    my $port = WxAuthStandIns::start_redis();
    WxAuthStandIns::wait_redis($port);
    return $port;
}

sub own_redis_at { WxAuthStandIns::redis_at(@_) }

sub own_redis { own_redis_at($ENV{TEST_NGINX_OWN_REDIS_PORT}, @_) }

#---------------------------------------------------------------------------
# The stand-in Redis

our %FakeStore = (
    WxAuthTest::session_key($Prefix, $Alice) => WxAuthTest::session_record(
        openid => 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn', appid => $AppId),
    WxAuthTest::session_key($Prefix, $CloseToken) => WxAuthTest::session_record(
        openid => 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn', appid => $AppId),
);

# after answering PTTL of this key, the stand-in closes the connection behind the answer
our %FakeCloseAfter = (WxAuthTest::session_key($Prefix, $CloseToken) => 1);

our $PidFile = $Test::Nginx::Util::PidFile;

sub start_fake_redis { WxAuthStandIns::tcp_server(\&fake_redis_serve) }

# One RESP command (an array of bulk strings) off the front of $$buf, or undef
# when it is not complete yet.
sub resp_take {
    my $buf = shift;
    return undef unless $$buf =~ /\A\*(\d+)\r\n/;
    my ($n, $pos) = ($1, $+[0]);
    my @args;
    for (1 .. $n) {
        pos($$buf) = $pos;
        return undef unless $$buf =~ /\G\$(\d+)\r\n/gc;
        my $len = $1;
        $pos = pos($$buf);
        return undef if length($$buf) < $pos + $len + 2;
        push @args, substr($$buf, $pos, $len);
        $pos += $len + 2;
    }
    substr($$buf, 0, $pos, '');
    return \@args;
}

sub write_all {
    my ($c, $data) = @_;
    while (length $data) {
        my $n = syswrite($c, $data);
        return unless $n;
        substr($data, 0, $n, '');
    }
}

sub fake_redis_serve {
    my $c = shift;
    my $in = '';
    while (1) {
        my $n = sysread($c, $in, 65536, length $in);
        return unless $n;
        my ($out, $close) = ('', 0);
        while (my $cmd = resp_take(\$in)) {
            my ($name, $key) = (uc $cmd->[0], $cmd->[1]);
            if ($name eq 'GET') {
                my $v = $FakeStore{$key};
                $out .= defined $v ? '$' . length($v) . "\r\n$v\r\n" : "\$-1\r\n";
            } elsif ($name eq 'PTTL') {
                $out .= exists $FakeStore{$key} ? ":3600000\r\n" : ":-2\r\n";
                $close ||= $FakeCloseAfter{$key};
            } elsif ($name eq 'PING') {
                $out .= "+PONG\r\n";
            } else {
                $out .= "-ERR unknown command '$name'\r\n";
            }
        }
        if ($close) {
            answer_and_close_while_stopped($c, $out);
            return;
        }
        write_all($c, $out) if length $out;
    }
}

sub process_stopped {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/stat" or return 1;   # gone: nothing to wait for
    my $line = <$fh>;
    close $fh;
    return defined $line && $line =~ /\)\s+[Tt]\s/;
}

# The answer and the FIN arrive while nginx cannot read them: when it goes on,
# one edge-triggered event brings both.
sub answer_and_close_while_stopped {
    my ($c, $out) = @_;
    my @pids = eval { WxAuthTest::nginx_worker_pids($PidFile) };
    local $SIG{TERM} = sub { kill 'CONT', @pids; POSIX::_exit(0) };   # never leave it stopped
    kill 'STOP', @pids;
    for (1 .. 2000) {
        last unless grep { !process_stopped($_) } @pids;
        Time::HiRes::sleep(0.001);
    }
    write_all($c, $out);
    close $c;
    Time::HiRes::sleep(0.05);
    kill 'CONT', @pids;
}

#---------------------------------------------------------------------------

$ENV{TEST_NGINX_OWN_REDIS_PORT}  = start_own_redis();
$ENV{TEST_NGINX_FAKE_REDIS_PORT} = start_fake_redis();

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    # the token in the query string, so that one block can send several
    location /q/ {
        wxauth on;
        wxauth_token \$arg_t;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-UnionID \$wxauth_unionid;
        proxy_set_header X-WX-AppID \$wxauth_appid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT/q/;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, config => $Config,
                               http_config_append => $WxAuthTest::Servers);
});

# --- check_after (eval: a sub) is called after each response with
# (block name, body, request index).
WxAuthTest::add_checks();

sub port { server_port_for_client() }

# nginx's ordinary clients of the private Redis (all but the one asking).
sub own_redis_clients {
    my $list = own_redis('CLIENT', 'LIST', 'TYPE', 'normal');
    return scalar(grep { /\S/ } split /\n/, $list) - 1;
}

sub wait_own_redis_clients {
    my $want = shift;
    my $n;
    for (1 .. 100) {
        $n = own_redis_clients();
        last if $n == $want;
        Time::HiRes::sleep(0.05);
    }
    return $n;
}

# How long after a close the session check may take to answer 200 again. A
# closed connection is reopened at once; an old reconnect backoff doubled with
# every close (100 ms, 200 ms, 400 ms, 800 ms, 1.6 s, 3.2 s, 5 s), so from the
# 4th close on it took longer than this.
our $Settle = 0.1;   # after the close, before the first try
our $Within = 0.6;   # from the close

# Redis closes the worker's (idle) connection; then the session check is
# tried every 20 ms until it answers 200, the last try starting at most
# $Within after the close.
sub close_and_recover {
    my ($name, $n) = @_;
    my $t0 = Time::HiRes::time();
    my $killed = own_redis('CLIENT', 'KILL', 'TYPE', 'normal');
    is($killed, 1, "$name - close $n: Redis closed the worker's connection");
    Time::HiRes::sleep($Settle);

    my ($status, $tries, $at) = (undef, 0, 0);
    while (1) {
        $at = Time::HiRes::time() - $t0;
        ($status) = WxAuthTest::http_request(port(), "GET /api/retry/$n",
                                             { 'X-WX-Session' => $Alice });
        $tries++;
        last if defined $status && $status eq '200';
        last if Time::HiRes::time() - $t0 >= $Within;
        Time::HiRes::sleep(0.02);
    }
    ok(defined $status && $status eq '200',
       sprintf("%s - close %d: the check answers 200 again within %d ms of the close "
               . "(%d tries, the last %d ms after the close: %s)",
               $name, $n, $Within * 1000, $tries, $at * 1000, $status // 'no answer'));
}

sub identity_body {
    my $uri = shift;
    return "upstream GET $uri openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] "
         . "appid=[$AppId] session=[]\n";
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis closes the connection 7 times (no password=, no db=): each time the check is back at once
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT;
    wxauth_redis_timeout 1s;
    wxauth_redis_prefix "wxt007:";
--- init
{
    local $WxAuthTest::RedisPort = $ENV{TEST_NGINX_OWN_REDIS_PORT};
    WxAuthTest::seed_session(prefix => $main::Prefix, token => $main::Alice,
        openid => 'oAlice-6Yk2QfPZ', unionid => 'uAlice-Lr0Wx3Tn', appid => $main::AppId,
        ttl => 600);
}
Test::More::is(main::wait_own_redis_clients(1), 1, "the worker is connected to the private Redis");
--- more_headers
X-WX-Session: xq1mK0b9T3-vRj5Zp2LhWc8Nf4Ds7Gy6Ea0Uo1Ii2Kk
--- request eval
[map { "GET /api/after/$_" } 0 .. 7]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    main::close_and_recover($name, $idx + 1) if $idx < 7;
}
--- timeout: 5
--- error_code eval
[(200) x 8]
--- response_body eval
[map { main::identity_body("/api/after/$_") } 0 .. 7]



=== TEST 2: control: the stand-in Redis answers the session check (a session twice, an unknown token)
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT;
    wxauth_redis_timeout 1s;
    wxauth_redis_prefix "wxt007:";
--- request eval
["GET /q/one?t=xq1mK0b9T3-vRj5Zp2LhWc8Nf4Ds7Gy6Ea0Uo1Ii2Kk",
 "GET /q/two?t=xq1mK0b9T3-vRj5Zp2LhWc8Nf4Ds7Gy6Ea0Uo1Ii2Kk",
 "GET /q/three?t=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
--- timeout: 5
--- error_code eval
[200, 200, 401]
--- response_body_like eval
['^upstream GET /q/one\?t=\S+ openid=\[oAlice-6Yk2QfPZ\] unionid=\[uAlice-Lr0Wx3Tn\] appid=\[wx51a4cc1e0a5e0001\]',
 '^upstream GET /q/two\?t=\S+ openid=\[oAlice-6Yk2QfPZ\] unionid=\[uAlice-Lr0Wx3Tn\] appid=\[wx51a4cc1e0a5e0001\]',
 '^\{"error":"session_expired","message":"[^"]+"\}$']
--- no_error_log
[error]



=== TEST 3: Redis closes the connection right behind the last reply (one event): the next check reconnects and gets 200
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT;
    wxauth_redis_timeout 1s;
    wxauth_redis_prefix "wxt007:";
--- init
my ($status, undef, $body) = WxAuthTest::http_request(main::port(), 'GET /api/first',
    { 'X-WX-Session' => $main::CloseToken });
Test::More::is($status, 200, "the check answered just before the close gets 200");
Time::HiRes::sleep(0.4);   # the connection is reopened meanwhile
--- more_headers
X-WX-Session: xq1mK0b9T3-vRj5Zp2LhWc8Nf4Ds7Gy6Ea0Uo1Ii2Kk
--- request
GET /api/second
--- timeout: 5
--- error_code: 200
--- response_body
upstream GET /api/second openid=[oAlice-6Yk2QfPZ] unionid=[uAlice-Lr0Wx3Tn] appid=[wx51a4cc1e0a5e0001] session=[]
--- no_error_log
wxauth: request refused
