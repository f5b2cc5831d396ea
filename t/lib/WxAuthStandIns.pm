package WxAuthStandIns;

# Peers that misbehave, for the suites in t/, started in the test process and
# stopped when it ends (also when a test dies):
#
# - tcp_server(\&serve): a loopback server running serve(socket) for every
#   connection (t/007's stand-in Redis);
# - raw_http_server(%answers): an HTTP server that answers each request path
#   with the exact bytes given (or runs a sub on the socket), so that a suite
#   can send what nginx itself would never produce: broken chunked framing, a
#   body that stops after the headers, answers of any size;
# - start_redis(): a private redis-server on a free loopback port, which a
#   suite may kill, restart (restart_redis) or pause without disturbing the
#   shared test Redis; with extra arguments (e.g. --replicaof) a replica;
# - start_sentinel(): a private redis-sentinel monitoring one of those;
# - redis_session(): several commands on one connection (e.g. a write, then
#   WAIT for the replicas to have it);
# - a Redis Cluster of them: t/lib/WxAuthCluster.pm.
#
# Plain Perl, core modules only, like WxAuthTest.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

use WxAuthTest ();

my $Parent = $$;
my @Started;   # pids to stop when the test process ends

sub _own_signals {
    # whatever handlers the test runner set: not for the servers started here
    $SIG{$_} = 'DEFAULT' for qw(INT HUP QUIT PIPE ALRM CHLD TERM);
}

sub _stop {
    my $pid = shift;
    kill 'TERM', $pid;
    for (1 .. 100) {
        return if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

END {
    if ($$ == $Parent) {
        local $?;   # waitpid sets it: the test's exit status must stay
        _stop($_) for @Started;
    }
}

#---------------------------------------------------------------------------
# Raw HTTP

# tcp_server(\&serve) -> port: a loopback server of the test process; one
# process accepts, and every connection gets a process of its own that runs
# serve(socket), so that a peer that stalls holds up nobody else.
sub tcp_server {
    my $serve = shift;
    my $listener = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                         LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
        or die "WxAuthStandIns: cannot listen: $!\n";
    my $port = $listener->sockport;

    my $pid = fork;
    die "WxAuthStandIns: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        eval { _accept_loop($listener, $serve) };
        POSIX::_exit(0);   # never the test's own END blocks
    }
    close $listener;
    push @Started, $pid;
    return $port;
}

sub _accept_loop {
    my ($listener, $serve) = @_;
    my %kids;
    _own_signals();
    $SIG{TERM} = sub { kill 'TERM', keys %kids; POSIX::_exit(0) };
    $SIG{CHLD} = sub {
        while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$k} }
    };
    while (1) {
        my $c = $listener->accept or next;   # interrupted by SIGCHLD
        my $k = fork;
        if (defined $k && $k == 0) {
            _own_signals();
            close $listener;
            alarm 300;   # whatever happens, never outlive the suite by much
            eval { $serve->($c) };
            POSIX::_exit(0);
        }
        $kids{$k} = 1 if $k;
        close $c;
    }
}

# raw_http_server(path => answer, ...) -> port
# `answer` is the whole response as bytes, or a sub called with the client
# socket (it writes what it wants, sleeps, closes). The request's path (query
# string removed) picks the answer; an unknown path gets a 404.
sub raw_http_server {
    my %answers = @_;
    return tcp_server(sub { _answer_raw(shift, \%answers) });
}

sub _answer_raw {
    my ($c, $answers) = @_;
    my $head = '';
    while ($head !~ /\r?\n\r?\n/) {
        my $n = sysread($c, $head, 8192, length $head);
        return unless $n;
    }
    my ($path) = $head =~ m{^[A-Z]+ ([^ ?]*)};
    my $answer = defined $path ? $answers->{$path} : undef;
    if (!defined $answer) {
        _write_all($c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    } elsif (ref $answer eq 'CODE') {
        $answer->($c);
    } else {
        _write_all($c, $answer);
    }
    close $c;
}

sub _write_all {
    my ($c, $data) = @_;
    local $SIG{PIPE} = 'IGNORE';
    while (length $data) {
        my $n = syswrite($c, $data);
        return unless $n;
        substr($data, 0, $n, '');
    }
}

# write_all(socket, bytes): for answer subs
sub write_all { _write_all(@_) }

# http_answer(body, headers...) -> a complete HTTP/1.1 answer with a Content-Length
sub http_answer {
    my ($body, @headers) = @_;
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
         . length($body) . "\r\n" . join('', map { "$_\r\n" } @headers)
         . "Connection: close\r\n\r\n$body";
}

#---------------------------------------------------------------------------
# A private redis-server

my %RedisDir;   # port -> its directory

# start_redis(port?, extra arguments...) -> port: a private redis-server (a
# port of its own unless one is given, e.g. to restart it where it was); the
# extra arguments go to redis-server as they are (`--replicaof 127.0.0.1 P`).
sub start_redis {
    my ($port, @extra) = @_;
    $port ||= WxAuthTest::free_port();
    my $dir = $RedisDir{$port}
        ||= File::Temp::tempdir('wxauth-redis-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $pid = fork;
    die "WxAuthStandIns: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        no warnings 'exec';
        exec $ENV{TEST_NGINX_REDIS_SERVER} || 'redis-server', '--bind', '127.0.0.1',
             '--port', $port, '--save', '', '--appendonly', 'no', '--dir', $dir,
             '--logfile', "$dir/redis.log", @extra;
        POSIX::_exit(127);
    }
    push @Started, $pid;
    $RedisDir{"pid:$port"} = $pid;
    return $port;
}

# start_sentinel(name => NAME, master_port => P, quorum => 2, port => ?, password => ?)
# -> port: a private redis-sentinel on a free loopback port that monitors the
# master 127.0.0.1:P as NAME, with quick failovers (down after 1 s). Its
# configuration file (which it rewrites) and log are in a directory of its
# own; kill_redis(port) kills it like a redis-server.
sub start_sentinel {
    my %o = @_;
    my $port = $o{port} || WxAuthTest::free_port();
    my $name = $o{name} or die "WxAuthStandIns: start_sentinel needs a name
";
    my $dir = $RedisDir{$port}
        ||= File::Temp::tempdir('wxauth-sentinel-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open my $conf, '>', "$dir/sentinel.conf" or die "WxAuthStandIns: $dir/sentinel.conf: $!\n";
    print $conf join("\n",
        "port $port",
        'bind 127.0.0.1',
        'daemonize no',
        "dir $dir",
        "logfile $dir/sentinel.log",
        "sentinel monitor $name 127.0.0.1 $o{master_port} " . ($o{quorum} || 2),
        "sentinel down-after-milliseconds $name 1000",
        "sentinel failover-timeout $name 5000",
        "sentinel parallel-syncs $name 1",
        (defined $o{password} ? ("requirepass $o{password}") : ()),
        ''), "\n";
    close $conf;
    my $pid = fork;
    die "WxAuthStandIns: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        no warnings 'exec';
        exec $ENV{TEST_NGINX_REDIS_SENTINEL} || 'redis-sentinel', "$dir/sentinel.conf";
        POSIX::_exit(127);
    }
    push @Started, $pid;
    $RedisDir{"pid:$port"} = $pid;
    return $port;
}

# wait_sentinels(name => NAME, master => PORT, replicas => [PORTS], sentinels =>
# [PORTS], within => 30): returns once every sentinel names the master, knows
# every replica and every other sentinel, and every replica's link to the
# master is up; dies after `within` seconds, naming the sentinels' logs.
sub wait_sentinels {
    my %o = @_;
    my @s = @{ $o{sentinels} };
    my @r = @{ $o{replicas} };
    my $ready = sub {
        for my $s (@s) {
            my ($addr, $replicas, $sentinels) = eval {
                redis_session($s, ['SENTINEL', 'get-master-addr-by-name', $o{name}],
                              ['SENTINEL', 'replicas', $o{name}],
                              ['SENTINEL', 'sentinels', $o{name}]);
            };
            return 0 unless ref $addr eq 'ARRAY' && $addr->[1] == $o{master};
            return 0 unless ref $replicas eq 'ARRAY' && @$replicas == @r;
            return 0 unless ref $sentinels eq 'ARRAY' && @$sentinels == @s - 1;
        }
        for my $r (@r) {
            my $info = eval { redis_at($r, 'INFO', 'replication') } // '';
            return 0 unless $info =~ /master_link_status:up/;
        }
        return 1;
    };
    my $t0 = Time::HiRes::time();
    until ($ready->()) {
        die "WxAuthStandIns: the sentinels did not see the master, its replicas and each "
            . "other within " . ($o{within} || 30) . " s (logs: "
            . join(' ', map { log_of($_) } @s) . ")\n"
            if Time::HiRes::time() - $t0 > ($o{within} || 30);
        Time::HiRes::sleep(0.1);
    }
}

# redis_session(port, [CMD, ARGS...], ...) -> the replies, in order: every
# command on one connection (WAIT counts the writes of its own connection).
sub redis_session {
    my ($port, @cmds) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or die "WxAuthStandIns: cannot connect to redis on 127.0.0.1:$port: $!\n";
    my @replies;
    for my $cmd (@cmds) {
        $sock->print(WxAuthTest::_encode_command(@$cmd));
        push @replies, WxAuthTest::_read_reply($sock);
    }
    close $sock;
    return @replies;
}

# log_of(port) -> the log file of the private redis-server or sentinel at port
sub log_of {
    my $port = shift;
    my $dir = $RedisDir{$port} or return undef;
    return -e "$dir/sentinel.log" ? "$dir/sentinel.log" : "$dir/redis.log";
}

# Waits until the private Redis at `port` answers PING; returns the time it did
# (Time::HiRes::time), or dies after `within` seconds (default 5).
sub wait_redis {
    my ($port, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < ($within || 5)) {
        my $pong = eval { redis_at($port, 'PING') };
        return Time::HiRes::time() if defined $pong && !ref $pong && $pong eq 'PONG';
        Time::HiRes::sleep(0.005);
    }
    die "WxAuthStandIns: redis-server on port $port did not answer (see "
        . ($RedisDir{$port} || '?') . "/redis.log)\n";
}

# Kills the private Redis (or sentinel) at `port` at once (SIGKILL: no goodbye
# to clients).
sub kill_redis {
    my $port = shift;
    my $pid = delete $RedisDir{"pid:$port"} or return;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    @Started = grep { $_ != $pid } @Started;
}

# redis_at(port, CMD, ARGS...): WxAuthTest::redis against another port.
sub redis_at {
    my $port = shift;
    local $WxAuthTest::RedisPort = $port;
    return WxAuthTest::redis(@_);
}

1;
