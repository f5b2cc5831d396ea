# vi:filetype=perl
#
# Three nginx nodes sharing one Redis Cluster (issue 8, "How it is proven"):
# node A is the nginx Test::Nginx runs (master process, 2 workers), nodes B and
# C are more nginx instances with the module (t/lib/WxAuthNodes.pm, 2 workers
# each); all three have the same `wxauth_redis_cluster` seeds and prefix. The
# WeChat stand-in and the upstream are served by a fourth nginx of the suite.
# The store: 3 masters and 3 replicas (t/lib/WxAuthCluster.pm,
# cluster-node-timeout 1000).
#
# - a login on A works on B and C;
# - a logout on C: the token is refused on A and B at once;
# - wxauth_single_session on: a login on B ends the session made on A, on
#   every node (the user's set and the sessions live in different slots);
# - a master is killed (SIGKILL): the sessions made before it by logins with
#   `wxauth_login_replicas 1` on the three nodes are valid on every node after
#   its replica is promoted, only 503 store_unavailable is answered meanwhile,
#   and every node answers again within 2 s of the promotion.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use WxAuthTest;
use WxAuthStandIns;
use WxAuthCluster;
use WxAuthNodes;
use WxAuthMultiNode;
use Time::HiRes ();

WxAuthTest::setup_ports();

our $Prefix  = 'wxt015:';
our $AppId   = $WxAuthTest::AppId;
our $Workers = 2;

our $Cluster = WxAuthCluster::start_cluster(masters => 3, replicas => 1);
$ENV{TEST_NGINX_CLUSTER_SEEDS} = join ' ', map { "127.0.0.1:$_" }
                                           (WxAuthCluster::masters($Cluster))[0, 1];

our $HttpConfig = <<"_EOC_";
    wxauth_redis_cluster \$TEST_NGINX_CLUSTER_SEEDS;
    wxauth_redis_prefix "$Prefix";
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
        wxauth_login_replicas 1;
    }

    location = /login-plain {
        wxauth_login;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /login-single {
        wxauth_login;
        wxauth_single_session on;
        wxauth_appid $AppId;
        wxauth_secret $WxAuthTest::Secret;
        wxauth_code2session /_wx/jscode2session;
    }

    location = /logout {
        wxauth_logout;
    }

    location = /_wx/jscode2session {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_WECHAT_PORT/sns/jscode2session;
    }

    location = /metrics {
        wxauth_metrics;
    }
_EOC_

our $StandIns = WxAuthNodes::start_node(name => 'stand-ins', workers => 1,
                                        http_config => $WxAuthTest::Servers,
                                        listens => [$ENV{TEST_NGINX_WECHAT_PORT},
                                                    $ENV{TEST_NGINX_UPSTREAM_PORT}]);

our %Node = map { $_ => WxAuthNodes::start_node(name => $_, workers => $Workers,
                                                http_config => $HttpConfig,
                                                config => $Config) } qw(B C);
our %WorkerPids = map { $_ => [ $Node{$_}->worker_pids ] } qw(B C);

WxAuthMultiNode::nodes(A => sub { server_port_for_client() }, B => $Node{B}, C => $Node{C});

master_on();
workers($Workers);

add_block_preprocessor(sub {
    WxAuthTest::block_defaults(shift, http_config => $HttpConfig, config => $Config);
});

WxAuthTest::add_checks();

sub skey { WxAuthTest::session_key($Prefix, $_[0]) }

# every node (every worker) has read the slot map: an unknown token is 401
our $Nobody = WxAuthTest::token('t015-nobody');
sub wait_until_served { WxAuthMultiNode::wait_until($Nobody, 401, 4 * $Workers) }

check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a login on node A (wxauth_login_replicas 1) works on nodes B and C
--- init
main::wait_until_served();
--- request
POST /login
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    WxAuthMultiNode::served_on("$name - the session of A", $_, $token, 'oAlice-6Yk2QfPZ')
        for qw(A B C);
    my $master = WxAuthCluster::owner_of($main::Cluster, main::skey($token));
    my $replica = WxAuthCluster::replica_of($main::Cluster, $master);
    Test::More::ok(defined WxAuthStandIns::redis_at($replica, 'GET', main::skey($token)),
                   "$name - its master's replica had it when the login answered");
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$



=== TEST 2: a logout on node C: the token is refused on nodes A and B at once
--- init
main::wait_until_served();
--- request
POST /login
code=nounion
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    WxAuthMultiNode::served_on("$name - before the logout", $_, $token, 'oBob-8Hd1MeRV')
        for qw(A B C);
    my ($status, undef, $body) = WxAuthTest::http_request($main::Node{C}->port, 'POST /logout',
                                                          { 'X-WX-Session' => $token });
    Test::More::is($status, 200, "$name - the logout on C answers 200");
    # at once: no sleep, no retry
    for my $node (qw(A B)) {
        WxAuthMultiNode::refused_on("$name - after the logout on C", $node, $token) for 1 .. 2;
    }
}
--- error_code: 200



=== TEST 3: wxauth_single_session on: a login on node B ends the session made on node A, on every node
--- init
main::wait_until_served();
--- request
POST /login-single
code=errcode0
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $first) = @_;
    WxAuthMultiNode::served_on("$name - the session made on A", $_, $first, 'oCarol-2Nq5ZsKJ')
        for qw(A B C);
    my $second = WxAuthMultiNode::login_on('B', 'errcode0', '/login-single');
    Test::More::ok(defined $second && $second ne $first,
                   "$name - the single-session login on B answers another token");
    WxAuthMultiNode::refused_on("$name - the session made on A, after the login on B", $_,
                                $first) for qw(A B C);
    WxAuthMultiNode::served_on("$name - the session made on B", $_, $second, 'oCarol-2Nq5ZsKJ')
        for qw(A B C);
}
--- error_code: 200



=== TEST 4: a master is killed: sessions made on every node before (wxauth_login_replicas 1) are valid after its replica is promoted, and every node answers within 2 s of it
--- init
{
    main::wait_until_served();

    my %made;
    for my $node (qw(A B C)) {
        for my $code (qw(good nounion errcode0)) {
            my $token = WxAuthMultiNode::login_on($node, $code);
            die "t/015: the login of $code on $node failed\n" unless $token;
            $made{"$code\@$node"} = [$token, $WxAuthTest::Identity{$code}{openid}];
        }
    }

    # the master with the most of these sessions; a probe session on it
    my %on;
    push @{ $on{ WxAuthCluster::owner_of($main::Cluster, main::skey($_->[0])) } }, $_->[0]
        for values %made;
    my ($old) = sort { @{ $on{$b} } <=> @{ $on{$a} } } keys %on;
    my $probe = $on{$old}[0];
    my $replica = WxAuthCluster::replica_of($main::Cluster, $old);
    Test::More::ok($replica, scalar(@{ $on{$old} }) . " sessions on 127.0.0.1:$old, whose "
                   . "replica is 127.0.0.1:" . ($replica // '?'));

    WxAuthCluster::kill_node($main::Cluster, $old);
    my $t_kill = Time::HiRes::time();

    my ($t_promoted, $n, %other) = (undef, 0);
    while (Time::HiRes::time() - $t_kill < 15) {
        for my $node (qw(A B C)) {
            my ($st, $body) = WxAuthMultiNode::use_on($node, $probe, "/api/down/$n");
            $n++;
            my ($code) = $body =~ /"error":"([a-z_]+)"/;
            $other{"$node:$st " . ($code // '')}++
                unless $st eq '503' && ($code // '') eq 'store_unavailable' || $st eq '200';
        }
        my $role = eval { WxAuthStandIns::redis_at($replica, 'ROLE') };
        if (ref $role eq 'ARRAY' && $role->[0] eq 'master') {
            $t_promoted = Time::HiRes::time();
            last;
        }
        Time::HiRes::sleep(0.02);
    }
    die "t/015: the replica was not promoted within 15 s\n" unless $t_promoted;
    Test::More::is_deeply(\%other, {},
                          "only 503 store_unavailable until the promotion ($n requests), "
                          . sprintf('%.1f s after the kill', $t_promoted - $t_kill));

    my $limit = $ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 2;
    my ($window, $bad) = WxAuthMultiNode::recovery_windows($probe, $t_promoted, $limit,
                                                           4 * $main::Workers);
    Test::More::is_deeply($bad, {}, 'only 503 store_unavailable or 200 after the promotion');
    for my $node (qw(A B C)) {
        Test::More::ok(defined $window->{$node} && $window->{$node} <= $limit,
                       "node $node answers 200 again "
                       . (defined $window->{$node}
                          ? sprintf('%.0f ms after the promotion', $window->{$node} * 1000)
                          : 'not at all')
                       . " (within $limit s)");
    }
    Test::More::diag(sprintf('t/015 cluster failover: promotion %.2f s after the kill; nodes '
                             . 'back %s after the promotion', $t_promoted - $t_kill,
                             join(', ', map { sprintf('%s %s ms', $_,
                                 defined $window->{$_} ? sprintf('%.0f', $window->{$_} * 1000)
                                                       : 'never') } qw(A B C))));

    # the login below may write to any master: one that has not yet heard of the
    # promotion answers CLUSTERDOWN (503 by design)
    WxAuthCluster::wait_state_ok($main::Cluster, 15);
    for my $node (qw(A B C)) {
        for my $made (sort keys %made) {
            my ($status, $body) = WxAuthMultiNode::use_on($node, $made{$made}[0]);
            Test::More::ok($status eq '200' && $body =~ /openid=\[\Q$made{$made}[1]\E\]/,
                           "the session $made made before the kill is served on node $node "
                           . "after the promotion ($status)");
        }
    }
}
--- request
POST /login-plain
code=good
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- follow_up eval
sub {
    my ($name, $token) = @_;
    # (/login, with wxauth_login_replicas 1, refuses the logins whose session's
    # slot is on the promoted replica: its own replica is the dead master)
    WxAuthMultiNode::served_on("$name - a login on A after the failover", $_, $token,
                               'oAlice-6Yk2QfPZ') for qw(A B C);
    for my $n (qw(B C)) {
        Test::More::is_deeply([ $main::Node{$n}->worker_pids ], $main::WorkerPids{$n},
                              "$name - node $n has the workers it started with");
        Test::More::unlike($main::Node{$n}->log_text, qr/\[(?:alert|crit|emerg)\]|exited on signal/,
                           "$name - nothing alarming in the error log of node $n");
        Test::More::cmp_ok(WxAuthMultiNode::metric_of($n, 'wxauth_redis_failovers_total'), '>=',
                           1, "$name - node $n counted the failover");
    }
}
--- error_code: 200
--- response_body_like: ^\{"session":"[A-Za-z0-9_-]{43}","expires_in":86400\}$
--- timeout: 5
--- no_error_log
exited on signal
