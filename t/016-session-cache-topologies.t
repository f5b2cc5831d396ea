# vi:filetype=perl
#
# wxauth_session_cache with Redis Sentinel and Redis Cluster: the invalidation
# connection goes to the server the data connection reads from (the master the
# sentinels name, and after a failover the new one; each cluster master), so a
# cached session is served without a Redis command and a DEL on the server that
# holds it evicts it within 100 ms. Real redis-server, redis-sentinel and
# redis-cli --cluster on free loopback ports, stopped when the suite ends.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use WxAuthCluster;
use Time::HiRes ();

WxAuthTest::setup_ports();

master_on();
workers(2);

our $Prefix = 'wxt013:';
our $AppId  = $WxAuthTest::AppId;
our $Name   = 'wxt013master';

# ---- a master with a replica and a sentinel

our $Master = WxAuthStandIns::start_redis();
WxAuthStandIns::wait_redis($Master);
our $Replica = WxAuthStandIns::start_redis(undef, '--replicaof', '127.0.0.1', $Master);
WxAuthStandIns::wait_redis($Replica);
our $Sentinel = WxAuthStandIns::start_sentinel(name => $Name, master_port => $Master,
                                               quorum => 1);
WxAuthStandIns::wait_redis($Sentinel);
$ENV{TEST_NGINX_SENTINEL_PORT} = $Sentinel;

# ---- a cluster of three masters

our $Cluster = WxAuthCluster::start_cluster(masters => 3, replicas => 0);
WxAuthCluster::wait_ok($Cluster);
our @Masters = WxAuthCluster::masters($Cluster);
$ENV{TEST_NGINX_CLUSTER_SEEDS} = join ' ', map { "127.0.0.1:$_" } @Masters;

our $Config = <<"_EOC_";
    location /q/ {
        wxauth on;
        wxauth_token \$arg_t;
        proxy_set_header X-WX-OpenID \$wxauth_openid;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_UPSTREAM_PORT;
    }

    location = /ping {
        return 200 "pong\\n";
    }
_EOC_

our $SentinelHttp = <<"_EOC_";
    wxauth_redis_sentinel $Name 127.0.0.1:\$TEST_NGINX_SENTINEL_PORT;
    wxauth_redis_prefix "$Prefix";
    wxauth_session_cache zone=wxt013s:1m valid=60s;

$WxAuthTest::Servers
_EOC_

our $ClusterHttp = <<"_EOC_";
    wxauth_redis_cluster \$TEST_NGINX_CLUSTER_SEEDS;
    wxauth_redis_prefix "$Prefix";
    wxauth_session_cache zone=wxt013c:1m valid=60s;

$WxAuthTest::Servers
_EOC_

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, config => $Config);
});

WxAuthTest::add_checks();

sub nworkers {
    return $ENV{TEST_NGINX_USE_VALGRIND} ? 1
         : WxAuthTest::nginx_workers($Test::Nginx::Util::PidFile);
}

# (tracked data connections, subscribed invalidation connections) on the Redis at `port`,
# waiting up to 10 s for `n` of each, then a moment for the workers to read the OKs
sub wait_tracked_at {
    my ($port, $n) = @_;
    my $deadline = Time::HiRes::time() + 10;
    my ($t, $p);
    while (Time::HiRes::time() < $deadline) {
        my $list = eval { WxAuthStandIns::redis_at($port, 'CLIENT', 'LIST') } // '';
        # the sentinel's own links (name=sentinel-...) subscribe too: not ours
        $list = join "\n", grep { !/\bname=sentinel-/ } split /\n/, $list;
        $list .= "\n";
        $t = () = $list =~ /\bflags=\S*t\S*\s/g;
        $p = () = $list =~ /\bflags=\S*P\S*\s/g;
        last if $t == $n && $p == $n;
        Time::HiRes::sleep(0.02);
    }
    Time::HiRes::sleep(0.2);
    return ($t, $p);
}

sub calls_at {
    my ($port, $cmd) = @_;
    my $info = WxAuthStandIns::redis_at($port, 'INFO', 'commandstats');
    return $info =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m ? $1 + 0 : 0;
}

sub seed_at {
    my ($port, $token, $openid) = @_;
    local $WxAuthTest::RedisPort = $port;
    return WxAuthTest::seed_session(prefix => $Prefix, token => $token, openid => $openid,
                                    appid => $AppId, ttl => 600);
}

sub get {
    my ($uri) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request(server_port_for_client(), "GET $uri");
    return ($status // 'none', $body // '');
}

sub refused_within {
    my ($uri, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < $within) {
        my ($status) = get($uri);
        return Time::HiRes::time() - $t0 if $status eq '401';
    }
    my ($status) = get($uri);
    return $status eq '401' ? Time::HiRes::time() - $t0 : undef;
}

# a session is cached (1 GET for 10 checks on `port`), then a redis-cli DEL there evicts it
sub cached_then_deleted {
    my ($name, $port, $token, $openid) = @_;
    my $key = seed_at($port, $token, $openid);
    WxAuthStandIns::redis_at($port, 'CONFIG', 'RESETSTAT');
    my @s = map { (get("/q/x?t=$token"))[0] } 1 .. 10;
    Test::More::is("@s", join(' ', ('200') x 10), "$name - 10 checks pass");
    Test::More::is(calls_at($port, 'get'), 1, "$name - one GET on 127.0.0.1:$port for 10 checks");
    my $cli = `redis-cli -h 127.0.0.1 -p $port DEL '$key'`;
    Test::More::like($cli, qr/^1$/m, "$name - redis-cli deleted the record");
    my $took = refused_within("/q/x?t=$token", 0.1);
    Test::More::ok(defined $took, "$name - refused within 100 ms"
                                  . (defined $took ? sprintf(' (%.1f ms)', $took * 1000) : ''));
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Sentinel: the master is tracked; a cached session needs no command; DEL evicts
--- http_config eval: $::SentinelHttp
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    my $n = main::nworkers();
    my ($t, $p) = main::wait_tracked_at($main::Master, $n);
    Test::More::is("$t $p", "$n $n", "$name - every worker tracked on the master");
    main::cached_then_deleted($name, $main::Master,
                              WxAuthTest::token('t013-sentinel'), 'oSent-1');
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 2: Sentinel failover: the invalidation connection follows the new master, and the cache serves again there
--- http_config eval: $::SentinelHttp
--- request
GET /ping
--- timeout: 60
--- check_after eval
sub {
    my ($name) = @_;
    my $n = main::nworkers();
    main::wait_tracked_at($main::Master, $n);
    my $token = WxAuthTest::token('t013-failover');
    # the replica, started with the suite, may still wait for its first sync (a master
    # delays a diskless sync by repl-diskless-sync-delay, 5 s by default)
    my $online = Time::HiRes::time() + 20;
    until ((eval { WxAuthStandIns::redis_at($main::Master, 'INFO', 'replication') } // '')
           =~ /^slave0:.*state=online/m) {
        die "t/016: the replica is not online after 20 s\n" if Time::HiRes::time() > $online;
        Time::HiRes::sleep(0.1);
    }
    # seeded and waited for on one connection: WAIT counts the replicas that have this
    # connection's writes (on a fresh connection it has nothing to wait for)
    my ($set, $acks) = WxAuthStandIns::redis_session($main::Master,
        ['SET', WxAuthTest::session_key($main::Prefix, $token),
         WxAuthTest::session_record(openid => 'oFail-1', appid => $main::AppId, ttl => 600),
         'EX', 600],
        ['WAIT', 1, 2000]);
    Test::More::is("$set $acks", 'OK 1', "$name - the session is on the master and its replica");
    my ($s0) = main::get("/q/x?t=$token");
    Test::More::is($s0, 200, "$name - cached on the old master");

    WxAuthStandIns::kill_redis($main::Master);
    my $deadline = Time::HiRes::time() + 30;
    my $role = '';
    while (Time::HiRes::time() < $deadline) {
        $role = eval { WxAuthStandIns::redis_at($main::Replica, 'ROLE')->[0] } // '';
        last if $role eq 'master';
        Time::HiRes::sleep(0.1);
    }
    Test::More::is($role, 'master', "$name - the replica was promoted");

    my ($t, $p) = main::wait_tracked_at($main::Replica, $n);
    Test::More::is("$t $p", "$n $n", "$name - every worker tracked on the new master");
    my ($s1) = main::get("/q/x?t=$token");
    Test::More::is($s1, 200, "$name - the session checks out on the new master");
    main::cached_then_deleted($name, $main::Replica,
                              WxAuthTest::token('t013-failover-2'), 'oFail-2');
}
--- error_code: 200



=== TEST 3: Cluster: every master is tracked; sessions on each master are cached and a DEL on their master evicts them
--- http_config eval: $::ClusterHttp
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    my $n = main::nworkers();
    # the workers connect to the masters as they learn the slot map: one request first
    main::get('/q/x?t=' . WxAuthTest::token('t013-warm'));
    for my $m (@main::Masters) {
        my ($t, $p) = main::wait_tracked_at($m, $n);
        Test::More::is("$t $p", "$n $n", "$name - every worker tracked on 127.0.0.1:$m");
    }
    my %done;
    for my $i (1 .. 60) {
        my $token = WxAuthTest::token("t013-cluster-$i");
        my $owner = WxAuthCluster::owner_of($main::Cluster,
                                            WxAuthTest::session_key($main::Prefix, $token));
        next if $done{$owner}++;
        main::cached_then_deleted("$name (master $owner)", $owner, $token, "oClu-$i");
        last if keys %done == @main::Masters;
    }
    Test::More::is(scalar(keys %done), scalar(@main::Masters), "$name - every master had one");
}
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: Cluster, a slot in mid-migration: a session read through ASK (from a node that did not track the read for this connection) is never cached, every check asks Redis
--- http_config eval: $::ClusterHttp
--- request
GET /ping
--- timeout: 30
--- check_after eval
sub {
    my ($name) = @_;
    my $n = main::nworkers();
    main::get('/q/x?t=' . WxAuthTest::token('t013-warm'));
    main::wait_tracked_at($_, $n) for @main::Masters;
    my $token = WxAuthTest::token('t013-asked');
    my $key = WxAuthTest::session_key($main::Prefix, $token);
    my $from = WxAuthCluster::owner_of($main::Cluster, $key);
    my ($to) = grep { $_ != $from } @main::Masters;
    main::seed_at($from, $token, 'oAsked-1');
    my $slot = WxAuthCluster::slot_of($main::Cluster, $key);
    WxAuthCluster::move_slot($main::Cluster, $slot, $to, after_keys => sub {
        # the record is on the importing node now; the migrating one answers -ASK for it
        WxAuthStandIns::redis_at($to, 'CONFIG', 'RESETSTAT');
        my @s = map { (main::get("/q/x?t=$token"))[0] } 1 .. 5;
        Test::More::is("@s", '200 200 200 200 200', "$name - 5 checks pass through ASK");
        Test::More::is(main::calls_at($to, 'get'), 5,
                       "$name - each of them read the record on 127.0.0.1:$to (never cached)");
    });
}
--- error_code: 200
--- no_error_log
[error]
