# vi:filetype=perl
#
# wxauth_redis_sentinel: the master that Redis Sentinel names, against real
# redis-sentinel processes. The suite starts a master and two replicas
# (redis-server --replicaof) and three sentinels (quorum 2, a master is down
# after 1 s) on free loopback ports, and stops them when it ends:
#
# - login and session checks go to the master the sentinels name; the
#   sentinel listed first is down and skipped;
# - the master is killed (SIGKILL): the sentinels promote a replica, and
#   within 2 s of the promotion a session seeded before the failover checks
#   out again, on the new master (the replicas had it: WAIT 2 after seeding);
#   logins then write to the new master, and the failover is counted;
# - the module never writes to a replica: a stand-in sentinel names a
#   replica that would take writes (replica-read-only no); ROLE says "slave",
#   the login is refused with 503 and nothing was written there.
#
# Configurations nginx must refuse are checked with `nginx -t` before the
# blocks.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Name   = 'wxt011';
our $Prefix = 'wxt011:';
our $AppId  = $WxAuthTest::AppId;
our $Alice  = WxAuthTest::token('t011-alice');

# ---- a master, two replicas, three sentinels

our $Master = WxAuthStandIns::start_redis();
WxAuthStandIns::wait_redis($Master);
our @Replicas = map { WxAuthStandIns::start_redis(undef, '--replicaof', '127.0.0.1', $Master) }
                1 .. 2;
WxAuthStandIns::wait_redis($_) for @Replicas;
our @Sentinels = map { WxAuthStandIns::start_sentinel(name => $Name, master_port => $Master,
                                                      quorum => 2) } 1 .. 3;
our $DeadSentinel = WxAuthTest::free_port();   # nobody listens there

# every sentinel knows the master, both replicas and the other sentinels (a
# failover needs all of it), and both replicas are in sync
WxAuthStandIns::wait_sentinels(name => $Name, master => $Master, replicas => \@Replicas,
                               sentinels => \@Sentinels);

$ENV{TEST_NGINX_SENTINELS} = join ' ', "127.0.0.1:$DeadSentinel",
                                  map { "127.0.0.1:$_" } @Sentinels;

# ---- the never-a-replica setup: a stand-in sentinel names a writable replica

our $Lone = WxAuthStandIns::start_redis();
WxAuthStandIns::wait_redis($Lone);
our $Writable = WxAuthStandIns::start_redis(undef, '--replicaof', '127.0.0.1', $Lone,
                                            '--replica-read-only', 'no');
WxAuthStandIns::wait_redis($Writable);

# resp_server(sub { my @command = @_; return the RESP answer }) -> port: a
# stand-in that answers each command it reads with what the sub returns
sub resp_server {
    my $answer = shift;
    return WxAuthStandIns::tcp_server(sub {
        my $c = shift;
        while (1) {
            my $cmd = eval { WxAuthTest::_read_reply($c) };
            return unless ref $cmd eq 'ARRAY' && @$cmd;
            WxAuthStandIns::write_all($c, $answer->(@$cmd));
        }
    });
}

sub bulk { '$' . length($_[0]) . "\r\n$_[0]\r\n" }

# a stand-in sentinel that names 127.0.0.1:port the master, whatever is asked
sub fake_sentinel {
    my $port = shift;
    return resp_server(sub {
        my $verb = uc shift;
        return '*2' . "\r\n" . bulk('127.0.0.1') . bulk($port) if $verb eq 'SENTINEL';
        return "*3\r\n" . bulk('subscribe') . bulk('+switch-master') . ":1\r\n"
            if $verb eq 'SUBSCRIBE';
        return "-ERR unknown command\r\n";
    });
}

$ENV{TEST_NGINX_FAKE_SENTINEL_PORT} = fake_sentinel($Writable);

# a stand-in Redis that says it is a master, but refuses every command with
# -READONLY (a demoted master whose connection survived the failover)
our $Demoted = resp_server(sub {
    my $verb = uc shift;
    return "*3\r\n" . bulk('master') . ":0\r\n*0\r\n" if $verb eq 'ROLE';
    return "-READONLY You can't write against a read only replica.\r\n";
});
$ENV{TEST_NGINX_DEMOTED_SENTINEL_PORT} = fake_sentinel($Demoted);

# passwords: a master with requirepass, named by a stand-in sentinel that
# answers only after AUTH with its own password
our $MasterPassword   = 'm4sterPw-011';
our $SentinelPassword = 's3ntinelPw-011';
our $Guarded = WxAuthStandIns::start_redis(undef, '--requirepass', $MasterPassword);
{
    my $t0 = Time::HiRes::time();
    until ((eval { (WxAuthStandIns::redis_session($Guarded, ['AUTH', $MasterPassword]))[0] }
            // '') eq 'OK')
    {
        die "t/011: the redis-server with a password did not start\n"
            if Time::HiRes::time() - $t0 > 5;
        Time::HiRes::sleep(0.01);
    }
}
$ENV{TEST_NGINX_GUARDED_SENTINEL_PORT} = WxAuthStandIns::tcp_server(sub {
    my $c = shift;
    my $authed = 0;
    while (1) {
        my $cmd = eval { WxAuthTest::_read_reply($c) };
        return unless ref $cmd eq 'ARRAY' && @$cmd;
        my $verb = uc $cmd->[0];
        my $answer;
        if ($verb eq 'AUTH') {
            $authed = @$cmd == 2 && $cmd->[1] eq $SentinelPassword;
            $answer = $authed ? "+OK\r\n" : "-WRONGPASS invalid username-password pair\r\n";
        } elsif (!$authed) {
            $answer = "-NOAUTH Authentication required.\r\n";
        } elsif ($verb eq 'SENTINEL') {
            $answer = "*2\r\n" . bulk('127.0.0.1') . bulk($Guarded);
        } elsif ($verb eq 'SUBSCRIBE') {
            $answer = "*3\r\n" . bulk('subscribe') . bulk('+switch-master') . ":1\r\n";
        } else {
            $answer = "-ERR unknown command\r\n";
        }
        WxAuthStandIns::write_all($c, $answer);
    }
});

# ---- configurations nginx refuses

for my $case (
    ['wxauth_redis and wxauth_redis_sentinel in one block',
     "wxauth_redis 127.0.0.1:6379;\n wxauth_redis_sentinel m 127.0.0.1:26379;",
     qr/\[emerg\] .*"wxauth_redis_sentinel" directive is not allowed with "wxauth_redis" in the same block/],
    ['wxauth_redis_sentinel, then wxauth_redis, in one block',
     "wxauth_redis_sentinel m 127.0.0.1:26379;\n wxauth_redis 127.0.0.1:6379;",
     qr/\[emerg\] .*"wxauth_redis" directive is not allowed with "wxauth_redis_sentinel" in the same block/],
    ['no sentinel address',
     "wxauth_redis_sentinel m password=x;",
     qr/\[emerg\] .*"wxauth_redis_sentinel" needs at least one sentinel address/],
    ['an unknown parameter is not echoed',
     "wxauth_redis_sentinel m 127.0.0.1:26379 pasword=Sup3rSecret;",
     qr/\[emerg\] .*invalid parameter #3 in "wxauth_redis_sentinel"/, qr/Sup3rSecret/],
    ['an empty sentinel_password=',
     "wxauth_redis_sentinel m 127.0.0.1:26379 sentinel_password=;",
     qr/\[emerg\] .*empty "sentinel_password=" in "wxauth_redis_sentinel"/],
    ['a unix socket is no sentinel address',
     "wxauth_redis_sentinel m unix:/tmp/s.sock;",
     qr/\[emerg\] .*invalid sentinel address "unix:\/tmp\/s.sock"/],
    ['a master name with a space',
     "wxauth_redis_sentinel 'my master' 127.0.0.1:26379;",
     qr/\[emerg\] .*invalid master name "my master"/],
    ['a sentinel host that does not resolve',
     "wxauth_redis_sentinel m no-such-host.invalid:26379;",
     qr/\[emerg\] .*host not found in sentinel address "no-such-host.invalid:26379"/],
    ['a duplicate wxauth_redis_sentinel',
     "wxauth_redis_sentinel m 127.0.0.1:26379;\n wxauth_redis_sentinel n 127.0.0.1:26379;",
     qr/\[emerg\] .*"wxauth_redis_sentinel" directive is duplicate/],
) {
    my ($what, $http, $says, $never) = @$case;
    my ($status, $out) = WxAuthTest::nginx_config_test($http, "location / { wxauth on; }");
    isnt($status, 0, "nginx -t refuses: $what");
    like($out, $says, "nginx -t says why: $what");
    unlike($out, $never, "nginx -t does not echo the parameter: $what") if $never;
}

{
    # names are resolved when the configuration is loaded; the options are accepted
    my ($status, $out) = WxAuthTest::nginx_config_test(
        "wxauth_redis_sentinel $Name localhost:$Sentinels[0] 127.0.0.1 "
        . "password=p1 sentinel_password=p2 db=3 liveness=2s;",
        "location / { wxauth on; }");
    is($status, 0, 'nginx -t accepts host names and every option') or diag($out);
}

our $HttpConfig = <<"_EOC_";
    wxauth_redis_sentinel $Name \$TEST_NGINX_SENTINELS;
    wxauth_redis_prefix "$Prefix";

$WxAuthTest::Servers
_EOC_

our $Config = <<"_EOC_";
    location /api/ {
        wxauth on;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_set_header X-WX-Session "";
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
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

    location = /metrics {
        wxauth_metrics;
    }
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

WxAuthTest::add_checks();

sub port { server_port_for_client() }

sub check {
    my ($path, $token) = @_;
    my ($status) = WxAuthTest::http_request(port(), "GET $path",
                                            { 'X-WX-Session' => $token || $Alice });
    return $status // 'none';
}

# the session of Alice on `master`, and on both replicas before this returns
sub seed_replicated {
    my $master = shift;
    my $key = WxAuthTest::session_key($Prefix, $Alice);
    my $record = WxAuthTest::session_record(openid => 'oAlice-6Yk2QfPZ', appid => $AppId,
                                            ttl => 600);
    my ($set, $acks) = WxAuthStandIns::redis_session($master,
        ['SET', $key, $record, 'EX', 600], ['WAIT', 2, 1000]);
    Test::More::is($set, 'OK', 'the session is seeded on the master');
    Test::More::is($acks, 2, 'both replicas have it (WAIT 2)');
}

# nginx has just started: the worker asks the sentinels, connects to the
# master and checks it with ROLE. Requests fail fast (503) meanwhile.
sub wait_until_served {
    my $token = shift;
    my $t0 = Time::HiRes::time();
    my $st;
    while (($st = check('/api/ready', $token)) eq '503' && Time::HiRes::time() - $t0 < 5) {
        Time::HiRes::sleep(0.01);
    }
    return $st;
}

sub master_named_by {
    my $sentinel = shift;
    my $addr = eval { WxAuthStandIns::redis_at($sentinel, 'SENTINEL', 'get-master-addr-by-name',
                                               $Name) };
    return ref $addr eq 'ARRAY' ? $addr->[1] : undef;
}

sub metric {
    my ($name) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request(port(), 'GET /metrics');
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# waits (at most 5 s) until the error log has a line that matches
sub wait_for_log {
    my $re = shift;
    my $log = server_root() . '/logs/error.log';
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < 5) {
        if (open my $fh, '<', $log) {
            while (<$fh>) { return 1 if $_ =~ $re }
        }
        Time::HiRes::sleep(0.02);
    }
    return 0;
}

our $NewMaster;

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: login and session check through the master the sentinels name; the first sentinel listed is down and skipped
--- init
{
    main::seed_replicated($main::Master);
    Test::More::is(main::wait_until_served(), 200, 'the session check answers 200');
}
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    Test::More::is(main::check('/api/x', $token), 200, "$name - the new session checks out");
    my $stored = WxAuthStandIns::redis_at($main::Master, 'GET',
                                          WxAuthTest::session_key($main::Prefix, $token));
    Test::More::ok(defined $stored && $stored =~ /"openid":"oAlice-6Yk2QfPZ"/,
                   "$name - the session was written to the master");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- error_log eval
[qr/wxauth: could not connect to sentinel 127\.0\.0\.1:$main::DeadSentinel/,
 qr/wxauth: the master of "wxt011" is wxt011 \(127\.0\.0\.1:$main::Master\)/]
--- no_error_log
is not the master



=== TEST 2: the master is killed: within 2 s of the sentinels' promotion the session checks out on the new master
--- init
{
    main::seed_replicated($main::Master);
    Test::More::is(main::wait_until_served(), 200, 'the session checks out before');

    my $old = $main::Master;
    WxAuthStandIns::kill_redis($old);
    my $t_kill = Time::HiRes::time();

    # requests every 20 ms while the sentinels have not promoted a replica yet
    my ($new, $t_promoted, $n, $not503) = (undef, undef, 0, 0);
    while (Time::HiRes::time() - $t_kill < 15) {
        my $st = main::check("/api/down/$n");
        $n++;
        $not503++ if $st ne '503';
        for my $s (@main::Sentinels) {
            my $port = main::master_named_by($s);
            if (defined $port && $port != $old) {
                ($new, $t_promoted) = ($port, Time::HiRes::time());
                last;
            }
        }
        last if $new;
        Time::HiRes::sleep(0.02);
    }
    die "t/011: no replica was promoted within 15 s\n" unless $new;
    Test::More::ok((grep { $_ == $new } @main::Replicas),
                   "a replica was promoted (127.0.0.1:$new), "
                   . sprintf('%.1f s after the kill', $t_promoted - $t_kill));
    Test::More::is($not503, 0, "no request answered other than 503 meanwhile ($n requests)");

    my ($st, $t_ok) = ('none', undef);
    while (1) {
        $st = main::check('/api/after');
        $t_ok = Time::HiRes::time();
        last if $st eq '200' || $t_ok - $t_promoted > 2;
        Time::HiRes::sleep(0.01);
    }
    my $limit = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 2;
    Test::More::ok($st eq '200' && $t_ok - $t_promoted <= $limit,
                   sprintf('the session checks out %.0f ms after the promotion (within %d s)',
                           ($t_ok - $t_promoted) * 1000, $limit));
    Test::More::diag(sprintf('failover: promotion %.2f s after the kill, first 200 %.0f ms '
                             . 'after the promotion, 503 for %.2f s in all',
                             $t_promoted - $t_kill, ($t_ok - $t_promoted) * 1000,
                             $t_ok - $t_kill));
    $main::NewMaster = $new;
}
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    # the sentinel of the subscription announces the switch when it is the
    # leader, or when the leader's hello messages reach it (every 2 s)
    main::wait_for_log(qr/\+switch-master wxt011 /);
    my $stored = WxAuthStandIns::redis_at($main::NewMaster, 'GET',
                                          WxAuthTest::session_key($main::Prefix, $token));
    Test::More::ok(defined $stored, "$name - the login wrote to the new master");
    Test::More::is(main::check('/api/y', $token), 200, "$name - the new session checks out");
    Test::More::is(main::metric('wxauth_redis_failovers_total'), 1,
                   "$name - wxauth_redis_failovers_total is 1");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- timeout: 5
--- error_log eval
[qr/wxauth: sentinel 127\.0\.0\.1:\d+: \+switch-master wxt011 127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+/,
 qr/wxauth: following the failover of "wxt011" from 127\.0\.0\.1:\d+ to wxt011 \(127\.0\.0\.1:\d+\)/]



=== TEST 3: never a write to a replica: the master a sentinel names is a (writable) replica; ROLE says so, the login is refused and nothing is written there
--- http_config eval
qq{
    wxauth_redis_sentinel wxt011r 127.0.0.1:\$TEST_NGINX_FAKE_SENTINEL_PORT;
    wxauth_redis_prefix "$main::Prefix";

$WxAuthTest::Servers
}
--- init
main::wait_for_log(qr/is not the master/);   # the worker asked the stand-in, ROLE answered
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- check_after eval
sub {
    my ($name) = @_;
    my $keys = WxAuthStandIns::redis_at($main::Writable, 'KEYS', "$main::Prefix*");
    Test::More::is_deeply($keys, [], "$name - nothing was written to the replica");
    my $set = WxAuthStandIns::redis_at($main::Writable, 'SET', "$main::Prefix probe", 1);
    Test::More::is($set, 'OK', "$name - although the replica takes writes");
    WxAuthStandIns::redis_at($main::Writable, 'DEL', "$main::Prefix probe");
}
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/wxauth: redis wxt011r \(127\.0\.0\.1:$main::Writable\) is not the master \(ROLE: replica\), asking the sentinels again/]



=== TEST 4: a master that answers -READONLY (demoted, its connection kept): the request fails, and the worker asks the sentinels again
--- http_config eval
qq{
    wxauth_redis_sentinel wxt011d 127.0.0.1:\$TEST_NGINX_DEMOTED_SENTINEL_PORT;
    wxauth_redis_prefix "$main::Prefix";

$WxAuthTest::Servers
}
--- init
main::wait_for_log(qr/the master of "wxt011d" is/);   # ROLE said "master"
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code: 503
--- response_body_like: ^\{"error":"store_unavailable","message":"[^"]+"\}$
--- error_log eval
[qr/wxauth: redis wxt011d \(127\.0\.0\.1:$main::Demoted\) answered "READONLY You can't write against a read only replica\.", asking the sentinels again/]



=== TEST 5: sentinel_password= authenticates to the sentinels, password= to the master; neither is logged
--- http_config eval
qq{
    wxauth_redis_sentinel wxt011p 127.0.0.1:\$TEST_NGINX_GUARDED_SENTINEL_PORT
                          password=$main::MasterPassword sentinel_password=$main::SentinelPassword;
    wxauth_redis_prefix "$main::Prefix";

$WxAuthTest::Servers
}
--- init
{
    my $key = WxAuthTest::session_key($main::Prefix, $main::Alice);
    my $record = WxAuthTest::session_record(openid => 'oAlice-6Yk2QfPZ',
                                            appid => $main::AppId, ttl => 600);
    my (undef, $set) = WxAuthStandIns::redis_session($main::Guarded,
        ['AUTH', $main::MasterPassword], ['SET', $key, $record, 'EX', 600]);
    Test::More::is($set, 'OK', 'the session is seeded on the master with a password');
    Test::More::is(main::wait_until_served(), 200, 'the session check answers 200');
}
--- more_headers eval
"X-WX-Session: $main::Alice"
--- request
GET /api/z
--- error_code: 200
--- response_body
upstream GET /api/z openid=[oAlice-6Yk2QfPZ] unionid=[] appid=[] session=[]
--- error_log eval
[qr/wxauth: the master of "wxt011p" is wxt011p \(127\.0\.0\.1:$main::Guarded\)/]
--- no_error_log eval
[$main::MasterPassword, $main::SentinelPassword, 'refused AUTH', 'refused the connection setup']
