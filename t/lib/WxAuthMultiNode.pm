package WxAuthMultiNode;

# Requests to several nginx nodes that share one session store, for the
# multi-node suites: node A is the nginx Test::Nginx runs, the others are
# WxAuthNodes nodes. Set once with
#   WxAuthMultiNode::nodes(A => sub { main::server_port_for_client() },
#                          B => $node_b, C => $node_c);
# (a node is a WxAuthNodes object or a sub giving a port). Plain Perl.

use strict;
use warnings;

use Test::More ();
use Time::HiRes ();

use WxAuthTest ();

my %Port;   # name -> sub giving its port

sub nodes {
    my %n = @_;
    %Port = map { my $v = $n{$_}; $_ => (ref $v eq 'CODE' ? $v : sub { $v->port }) } keys %n;
}

sub names { sort keys %Port }

sub port_of { $Port{ $_[0] }->() }

# (status, body) of a protected request with `token` on `node`
sub use_on {
    my ($node, $token, $path) = @_;
    my ($status, undef, $body) = eval {
        WxAuthTest::http_request(port_of($node), 'GET ' . ($path || '/api/x'),
                                 { 'X-WX-Session' => $token });
    };
    return ($status // 'none', $body // '');
}

sub status_on { (use_on(@_))[0] }

# a login on `node` (at `path`, default /login) with `code` -> its token, or undef
sub login_on {
    my ($node, $code, $path) = @_;
    my ($status, undef, $body) = WxAuthTest::http_request(port_of($node),
        'POST ' . ($path || '/login'),
        { 'Content-Type' => 'application/x-www-form-urlencoded' }, "code=$code");
    my ($token) = WxAuthTest::login_answer($body);
    Test::More::diag("login on $node: " . ($status // 'none') . ' ' . ($body // ''))
        unless $token;
    return $token;
}

# the token is served on `node` for the user `openid`
sub served_on {
    my ($what, $node, $token, $openid) = @_;
    my ($status, $body) = use_on($node, $token);
    Test::More::is($status, 200, "$what: 200 on node $node");
    Test::More::like($body, qr/openid=\[\Q$openid\E\]/, "$what: node $node passes $openid on");
}

sub refused_on {
    my ($what, $node, $token) = @_;
    my ($status, $body) = use_on($node, $token);
    Test::More::is($status, 401, "$what: 401 on node $node");
    Test::More::like($body, qr/"error":"session_expired"/, "$what: session_expired on node $node");
}

# every node answers `status` for `token` `streak` times in a row, within 5 s
# (a node that just started learns its store first: 503 meanwhile)
sub wait_until {
    my ($token, $status, $streak) = @_;
    for my $node (names()) {
        my ($t0, $ok) = (Time::HiRes::time(), 0);
        while (Time::HiRes::time() - $t0 < 5) {
            $ok = status_on($node, $token) eq $status ? $ok + 1 : 0;
            last if $ok >= $streak;
            Time::HiRes::sleep(0.01);
        }
        die "WxAuthMultiNode: node $node does not answer $status within 5 s\n"
            unless $ok >= $streak;
    }
}

sub metric_of {
    my ($node, $name) = @_;
    my (undef, undef, $body) = eval { WxAuthTest::http_request(port_of($node), 'GET /metrics') };
    return defined $body && $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# After a store's failover: polls every node with `token` until each has
# answered 200 `streak` times in a row, for at most `limit` + 1 s after
# `t_promoted`. -> (\%window: node -> seconds from the promotion to its first
# 200 of the streak, \%bad: "node:status error" -> count of answers other than
# 503 store_unavailable and 200)
sub recovery_windows {
    my ($token, $t_promoted, $limit, $streak) = @_;
    my (%window, %bad, %first, %n);
    my %pending = map { $_ => 1 } names();
    while (%pending && Time::HiRes::time() - $t_promoted < $limit + 1) {
        for my $node (sort keys %pending) {
            my ($st, $body) = use_on($node, $token, '/api/after');
            my $t = Time::HiRes::time();
            if ($st eq '200') {
                $first{$node} //= $t;
                if (++$n{$node} >= $streak) {
                    $window{$node} = $first{$node} - $t_promoted;
                    delete $pending{$node};
                }
            } else {
                my ($code) = $body =~ /"error":"([a-z_]+)"/;
                $bad{"$node:$st " . ($code // '?')}++
                    unless $st eq '503' && ($code // '') eq 'store_unavailable';
                delete $first{$node};
                $n{$node} = 0;
            }
        }
        Time::HiRes::sleep(0.01);
    }
    return (\%window, \%bad);
}

1;
