package WxAuthCluster;

# A real Redis Cluster for the suites in t/ and util/test-scale.sh: redis-server
# --cluster-enabled yes on free loopback ports (started through WxAuthStandIns,
# so they are stopped when the test process ends, also when a test dies),
# joined by `redis-cli --cluster create ... --cluster-replicas N --cluster-yes`.
#
#   my $c = WxAuthCluster::start_cluster(masters => 3, replicas => 1);
#   $c->{ports}            every node, as created
#   masters($c)            the ports of the current masters (asked each time)
#   owner_of($c, $key)     the port of the master serving the key's slot
#   replica_of($c, $port)  a replica of that master
#   wait_ok($c)            until every live node says cluster_state:ok and agrees
#                          on the slot map
#   wait_state_ok($c)      until every live node says cluster_state:ok (after a
#                          failover: each node has learnt of the promotion; until
#                          then a node answers CLUSTERDOWN), the seconds it took
#
# Plain Perl, core modules only.

use strict;
use warnings;

use Time::HiRes ();

use WxAuthStandIns ();
use WxAuthTest ();

sub start_cluster {
    my %o = @_;
    my $masters = $o{masters} || 3;
    my $replicas = $o{replicas} // 1;
    my $timeout = $o{node_timeout} || 1000;
    my @ports;
    for (1 .. $masters * (1 + $replicas)) {
        my $port = WxAuthTest::free_port();
        WxAuthStandIns::start_redis($port, '--cluster-enabled', 'yes',
                                    '--cluster-config-file', "nodes-$port.conf",
                                    '--cluster-node-timeout', $timeout,
                                    # a replica takes over whatever its master's last contact
                                    '--cluster-replica-validity-factor', 0,
                                    @{ $o{extra} || [] });
        push @ports, $port;
    }
    WxAuthStandIns::wait_redis($_) for @ports;

    my $log = WxAuthStandIns::log_of($ports[0]) . '.create';
    my $rc = system("redis-cli --cluster create "
                    . join(' ', map { "127.0.0.1:$_" } @ports)
                    . " --cluster-replicas $replicas --cluster-yes >$log 2>&1");
    die "WxAuthCluster: redis-cli --cluster create failed (see $log)\n" if $rc != 0;

    my $c = { ports => \@ports, replicas => $replicas, dead => {} };
    wait_ok($c, 30);
    return $c;
}

sub _live { my $c = shift; grep { !$c->{dead}{$_} } @{ $c->{ports} } }

# the masters that serve slots, by port, as the cluster says now
sub masters {
    my $c = shift;
    my %m;
    for my $port (_live($c)) {
        my $slots = eval { WxAuthStandIns::redis_at($port, 'CLUSTER', 'SLOTS') };
        next unless ref $slots eq 'ARRAY';
        $m{$_->[2][1]} = 1 for @$slots;
        last;
    }
    return sort { $a <=> $b } keys %m;
}

sub slot_of {
    my ($c, $key) = @_;
    my ($port) = _live($c);
    return WxAuthStandIns::redis_at($port, 'CLUSTER', 'KEYSLOT', $key);
}

# the port of the master serving `key` (or a slot number given as slot => N)
sub owner_of {
    my ($c, $key, %o) = @_;
    my $slot = defined $o{slot} ? $o{slot} : slot_of($c, $key);
    for my $port (_live($c)) {
        my $slots = eval { WxAuthStandIns::redis_at($port, 'CLUSTER', 'SLOTS') };
        next unless ref $slots eq 'ARRAY';
        for my $r (@$slots) {
            return $r->[2][1] if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return undef;
}

# a replica of the master at `port` (as that master's INFO replication names it)
sub replica_of {
    my ($c, $port) = @_;
    my $info = WxAuthStandIns::redis_at($port, 'INFO', 'replication') // '';
    return $info =~ /^slave\d+:ip=[^,]+,port=(\d+),state=online/m ? $1 : undef;
}

# the node id of the node at `port`
sub node_id {
    my ($c, $port) = @_;
    return WxAuthStandIns::redis_at($port, 'CLUSTER', 'MYID');
}

sub kill_node {
    my ($c, $port) = @_;
    WxAuthStandIns::kill_redis($port);
    $c->{dead}{$port} = 1;
}

# until every live node says cluster_state:ok, all serve the same 16384 slots
# and name every range's replicas, and every master's replicas are online
sub wait_ok {
    my ($c, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (1) {
        my ($ok, $why) = _state_ok($c);
        return 1 if $ok;
        die "WxAuthCluster: the cluster is not ready after ${within} s: $why\n"
            if Time::HiRes::time() - $t0 > ($within || 30);
        Time::HiRes::sleep(0.05);
    }
}

# Right after a promotion the nodes that have not yet heard of it still hold the
# cluster down and answer every command CLUSTERDOWN (the module answers such a
# command 503 store_unavailable, by design): a test that wants a write on any node
# to succeed waits for this first.
sub wait_state_ok {
    my ($c, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (1) {
        my @down = grep {
            (eval { WxAuthStandIns::redis_at($_, 'CLUSTER', 'INFO') } // '') !~ /cluster_state:ok/
        } _live($c);
        return Time::HiRes::time() - $t0 unless @down;
        die "WxAuthCluster: after ${within} s, still not cluster_state:ok: "
            . join(', ', map { "127.0.0.1:$_" } @down) . "\n"
            if Time::HiRes::time() - $t0 > ($within || 30);
        Time::HiRes::sleep(0.01);
    }
}

sub _state_ok {
    my $c = shift;
    my $map;
    for my $port (_live($c)) {
        my $info = eval { WxAuthStandIns::redis_at($port, 'CLUSTER', 'INFO') } // '';
        return (0, "127.0.0.1:$port: not cluster_state:ok") unless $info =~ /cluster_state:ok/;
        my $slots = eval { WxAuthStandIns::redis_at($port, 'CLUSTER', 'SLOTS') };
        return (0, "127.0.0.1:$port: no CLUSTER SLOTS") unless ref $slots eq 'ARRAY';
        my $covered = 0;
        $covered += $_->[1] - $_->[0] + 1 for @$slots;
        # every node names every range's replicas too (it learns them by gossip)
        return (0, "127.0.0.1:$port: a range without its replicas in CLUSTER SLOTS")
            if grep { @$_ - 3 < $c->{replicas} } @$slots;
        return (0, "127.0.0.1:$port: $covered slots served") unless $covered == 16384;
        my $this = join ';', sort map { "$_->[0]-$_->[1]\@$_->[2][1]" } @$slots;
        $map //= $this;
        return (0, 'the nodes disagree on the slot map') unless $map eq $this;
    }
    if ($c->{replicas}) {
        for my $m (masters($c)) {
            my $info = eval { WxAuthStandIns::redis_at($m, 'INFO', 'replication') } // '';
            return (0, "master 127.0.0.1:$m has no online replica")
                unless $info =~ /^slave\d+:.*state=online/m;
        }
    }
    return (1, '');
}

# moves one slot from its master to the master at `to`, key by key, the way
# `redis-cli --cluster reshard` does: IMPORTING / MIGRATING, MIGRATE, then
# SETSLOT NODE on both and the rest. With `between` (a sub), it runs between the
# MIGRATING mark and the move of the keys (ASK redirects are answered then).
sub move_slot {
    my ($c, $slot, $to, %o) = @_;
    my $from = owner_of($c, undef, slot => $slot);
    die "WxAuthCluster: slot $slot is served by 127.0.0.1:$to already\n" if $from == $to;
    my $from_id = node_id($c, $from);
    my $to_id = node_id($c, $to);
    WxAuthStandIns::redis_at($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $from_id);
    WxAuthStandIns::redis_at($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $to_id);
    $o{between}->() if $o{between};
    while (1) {
        my $keys = WxAuthStandIns::redis_at($from, 'CLUSTER', 'GETKEYSINSLOT', $slot, 100);
        last unless ref $keys eq 'ARRAY' && @$keys;
        my $r = WxAuthStandIns::redis_at($from, 'MIGRATE', '127.0.0.1', $to, '', 0, 5000,
                                          'KEYS', @$keys);
        die "WxAuthCluster: MIGRATE failed: " . ($r // 'no reply') . "\n"
            unless defined $r && !ref $r && $r =~ /^(OK|NOKEY)$/;
    }
    $o{after_keys}->() if $o{after_keys};
    for my $port (_live($c)) {
        next if $c->{dead}{$port};
        WxAuthStandIns::redis_at($port, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $to_id);
    }
    return $from;
}

1;
