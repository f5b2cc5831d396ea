# vi:filetype=perl
#
# The worker's Redis connection when Redis goes away and when it is slow
# (regression tests, see src/ngx_http_wxauth_redis.cpp):
#
# - Redis killed and restarted under load: while it is down requests fail fast
#   (503), and a background probe reconnects every 100 ms, so the first request
#   after Redis accepts connections again succeeds within 250 ms (before: a
#   backoff that grew with every request while Redis was down, about 3.3 s);
# - one location's short wxauth_redis_timeout fails its own requests only: a
#   slow answer no longer drops the shared connection, failing the requests
#   other locations have waiting on it.
#
#   TEST_NGINX_OWN_REDIS_PORT  a private redis-server of this suite, which it
#                              kills, restarts and pauses

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use IO::Socket::INET ();
use File::Temp ();
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix = 'wxt010:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = WxAuthTest::token('t010-alice');
our $Port   = WxAuthStandIns::start_redis();
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $Port;
WxAuthStandIns::wait_redis($Port);

# A "Redis" that accepts every connection, refuses it at once and closes (as a
# Redis at maxclients does); each connection adds a line to a file.
our $CountFile = File::Temp::tempdir('wxauth-t010-XXXXXX', TMPDIR => 1, CLEANUP => 1)
               . '/connections';
$ENV{TEST_NGINX_REFUSING_REDIS_PORT} = WxAuthStandIns::tcp_server(sub {
    my $c = shift;
    if (open my $f, '>>', $CountFile) { print $f "c\n"; close $f }
    WxAuthStandIns::write_all($c, "-ERR max number of clients reached\r\n");
    close $c;
});

sub connections_made {
    open my $f, '<', $CountFile or return 0;
    my @l = <$f>;
    return scalar @l;
}

our $HttpConfig = <<"_EOC_";
    wxauth_redis 127.0.0.1:\$TEST_NGINX_OWN_REDIS_PORT;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        wxauth_redis_timeout 3s;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    # a cheap endpoint whose operator set a very short timeout
    location /impatient/ {
        wxauth on;
        wxauth_redis_timeout 1ms;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

# --- check_after (eval: a sub) is called after each response with (name, body, index)
WxAuthTest::add_checks();

sub port { server_port_for_client() }

sub seed {
    WxAuthTest::seed_session(prefix => $Prefix, token => $Alice, openid => 'oAlice-6Yk2QfPZ',
                             appid => $AppId, ttl => 600);
}

sub own_redis { WxAuthStandIns::redis_at($Port, @_) }

sub check {
    my $path = shift;
    my ($status) = WxAuthTest::http_request(port(), "GET $path", { 'X-WX-Session' => $Alice });
    return $status // 'none';
}

our @DownFor = (0.4, 0.9, 1.7, 2.5);   # seconds, one per round

# Kills Redis, shows the fast 503 while it is down, restarts it and measures
# how long after Redis answers PING again the session check answers 200.
sub kill_and_restart {
    my ($name, $round) = @_;
    WxAuthStandIns::kill_redis($Port);

    # down for a while under load: a request every 20 ms, each a fast 503.
    # Before the fix every reconnect a request made doubled the wait before the
    # next one (100 ms, 200 ms, 400 ms, ...): how long the first request after
    # Redis was back waited depended on when Redis came back, so the rounds
    # bring it back after different times.
    my $down_for = $DownFor[$round - 1];
    my ($n, $bad, $slowest) = (0, 0, 0);
    my $t_down = Time::HiRes::time();
    while (Time::HiRes::time() - $t_down < $down_for) {
        my $t = Time::HiRes::time();
        my $st = check("/api/down/$round/$n");
        my $took = Time::HiRes::time() - $t;
        $slowest = $took if $took > $slowest;
        $bad++ if $st ne '503';
        $n++;
        Time::HiRes::sleep(0.02);
    }
    Test::More::is($bad, 0, "$name - round $round: Redis down: $n requests, all 503");
    Test::More::ok($slowest < 0.5, sprintf("%s - round %d: each 503 is fast (slowest %.0f ms)",
                                           $name, $round, $slowest * 1000));

    WxAuthStandIns::start_redis($Port);
    my $t0 = WxAuthStandIns::wait_redis($Port);
    local $WxAuthTest::RedisPort = $Port;
    seed();

    my ($status, $tries, $t1) = ('none', 0, 0);
    while (1) {
        $status = check("/api/up/$round");
        $tries++;
        $t1 = Time::HiRes::time();
        last if $status eq '200' || $t1 - $t0 > 3;
        Time::HiRes::sleep(0.005);
    }
    my $ms = ($t1 - $t0) * 1000;
    my $limit = $ENV{TEST_NGINX_USE_VALGRIND} ? 2000 : 250;   # valgrind slows nginx down
    Test::More::diag(sprintf("round %d: first 200 %.0f ms after Redis answered PING "
                             . "(%d tries)", $round, $ms, $tries));
    Test::More::ok($status eq '200' && $ms < $limit,
                   sprintf("%s - round %d: the first success comes %.0f ms after Redis is "
                           . "back (%d tries, within %d ms)", $name, $round, $ms, $tries, $limit));
}

# Requests that wait on Redis: sent now, read later.
sub start_requests {
    my ($n, $path) = @_;
    my @socks;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => port(),
                                      Proto => 'tcp', Timeout => 3)
            or die "t/010: cannot connect to nginx: $!\n";
        $s->print("GET $path/$i HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                  . "X-WX-Session: $Alice\r\n\r\n");
        push @socks, $s;
    }
    return @socks;
}

sub statuses {
    my @out;
    for my $s (@_) {
        my $resp = '';
        local $SIG{ALRM} = sub { die "t/010: no answer in time\n" };
        alarm 5;
        while (my $n = $s->sysread(my $buf, 65536)) { $resp .= $buf }
        alarm 0;
        push @out, $resp =~ m{^HTTP/1\.[01] (\d{3})} ? $1 : 'none';
    }
    return @out;
}

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Redis killed and restarted four times: fast 503 while down, the first success within 250 ms of Redis being back
--- init
{
    local $WxAuthTest::RedisPort = $main::Port;
    main::seed();
}
--- more_headers eval
"X-WX-Session: $main::Alice"
--- request eval
[map { "GET /api/before/$_" } 1 .. 5]
--- check_after eval
sub {
    my ($name, $body, $idx) = @_;
    main::kill_and_restart($name, $idx + 1) if $idx < 4;
}
--- timeout: 10
--- error_code eval
[(200) x 5]
--- error_log eval
[qr/wxauth: could not connect to redis 127\.0\.0\.1:\d+/, qr/wxauth: redis 127\.0\.0\.1:\d+ is reachable again/]



=== TEST 2: Redis paused 0.6 s: ten requests waiting with a 3 s timeout all succeed although a 1 ms location times out meanwhile
--- init
{
    local $WxAuthTest::RedisPort = $main::Port;
    main::seed();
}
# the worker's connection is up and used
Test::More::is(main::check('/api/warm'), 200, 'the connection is up');
my $paused = main::own_redis('CLIENT', 'PAUSE', 600, 'ALL');
Test::More::is($paused, 'OK', 'Redis paused for 600 ms');
@main::Waiting = main::start_requests(10, '/api/waiting');
Time::HiRes::sleep(0.1);   # all ten are parked on the connection
--- more_headers eval
"X-WX-Session: $main::Alice"
--- request
GET /impatient/x
--- check_after eval
sub {
    my ($name) = @_;
    my @st = main::statuses(@main::Waiting);
    Test::More::is_deeply(\@st, [(200) x 10], "$name - the ten waiting requests got 200");
}
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/wxauth: redis 127\.0\.0\.1:\d+ did not answer in time/, qr/wxauth: request refused: store_unavailable/]
--- no_error_log
dropping the connection



=== TEST 3: a Redis that accepts and refuses every connection at once (maxclients): probed every 100 ms, not hammered
--- http_config
    wxauth_redis 127.0.0.1:$TEST_NGINX_REFUSING_REDIS_PORT;
    wxauth_redis_prefix "wxt010:";
--- init
Time::HiRes::sleep(1);   # the worker meets the refusing Redis meanwhile
--- more_headers eval
"X-WX-Session: $main::Alice"
--- request
GET /api/x
--- check_after eval
sub {
    my ($name) = @_;
    my $n = main::connections_made();
    # one second of a probe every 100 ms is about ten; reconnecting at once after each close
    # made thousands
    Test::More::ok($n >= 2 && $n <= 40, "$name - $n connections in about a second");
}
--- timeout: 5
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- grep_error_log eval: qr/refused the connection setup/
--- grep_error_log_out
refused the connection setup
