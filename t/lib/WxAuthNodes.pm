package WxAuthNodes;

# More nginx instances with the module ("nodes") next to the one Test::Nginx
# runs, for suites about several nginx nodes sharing one store (issue 8):
#
#   my $b = WxAuthNodes::start_node(name => 'B', workers => 2,
#                                   http_config => $HttpConfig, config => $Config);
#   my ($status, $headers, $body) = $b->request('GET /api/x', { 'X-WX-Session' => $t });
#   $b->port; $b->error_log; $b->log_text; $b->wait_for_log(qr/.../);
#   $b->worker_pids; $b->metric('wxauth_redis_failovers_total'); $b->stop;
#
# Each node is Debian's nginx (TEST_NGINX_BINARY, default `nginx`) with the
# modules of TEST_NGINX_LOAD_MODULES (load_module lines, when set), started in
# the foreground (`daemon off`) as a child of the test process with
# `master_process on` and N workers, in a prefix directory of its own (conf/,
# logs/error.log, temp paths) on a free loopback port. The configuration is
# what Test::Nginx would generate around a block's sections: `http_config`
# inside http {}, and `config` inside the node's server {} (whose `listen` the
# harness writes); $TEST_NGINX_* variables are expanded in both from the
# environment (an unset one is an error), and $TEST_NGINX_NODE_PORT is the
# node's own port. A suite can so give a node the same sections as its
# Test::Nginx blocks (but not the stand-in servers of $WxAuthTest::Servers,
# whose ports the Test::Nginx instance already listens on, unless the node is
# the one that serves them).
#
# start_node returns once the node accepts connections (it dies with nginx's
# own output if nginx exits or does not listen within 10 s). Nodes are
# stopped by their master's pid (TERM, then KILL of the master and of the
# workers it had) when the test process ends: normally, on die, when tests
# failed, and on SIGINT/SIGTERM/SIGHUP (the handlers chain to the ones set
# before). A node's prefix stays in a temporary directory that is removed at
# the end, unless TEST_NGINX_NO_CLEAN is set (then its path is printed).
#
# Plain Perl, core modules only, like WxAuthTest and WxAuthStandIns; nothing
# here depends on the Test::Nginx implementation in use.

use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

use WxAuthTest ();

my $Parent = $$;
my @Nodes;      # every node started and not stopped yet
my $Signals;    # whether the signal handlers are in place

sub _stop_all {
    my @all = reverse @Nodes;   # stop() takes a node off @Nodes
    for my $node (@all) {
        # never die here: an END block that dies skips the END blocks after it
        # (those that stop the suite's redis-servers)
        eval { $node->stop; 1 } or warn "WxAuthNodes: stopping node $node->{name}: $@";
    }
}

END {
    if ($$ == $Parent) {
        local $?;   # waitpid sets it: the test's exit status must stay
        _stop_all();
    }
}

# stops the nodes on the signals that end a test run, then does what was set
# before (the runner's own handler, or the default action)
sub _install_signal_handlers {
    return if $Signals++;
    for my $sig (qw(INT TERM HUP)) {
        my $before = $SIG{$sig};
        $SIG{$sig} = sub {
            _stop_all() if $$ == $Parent;
            if (ref $before eq 'CODE') {
                $before->(@_);
            } elsif (!defined $before || $before eq 'DEFAULT' || $before eq '') {
                $SIG{$sig} = 'DEFAULT';
                my $num = eval "POSIX::SIG$sig()";
                POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), POSIX::SigSet->new($num));
                kill $num, $$;
                POSIX::_exit(128 + $num);
            }
        };
    }
}

sub _expand {
    my ($text, $port) = @_;
    $text = '' unless defined $text;
    local $ENV{TEST_NGINX_NODE_PORT} = $port;
    $text =~ s/\$(TEST_NGINX_[_A-Z0-9]+)/
        defined $ENV{$1} ? $ENV{$1} : die "WxAuthNodes: \$$1 is not set\n"/ge;
    return $text;
}

# start_node(%options) -> a node (a blessed hash). Options:
#   name         a label for messages and the prefix directory (default "node")
#   http_config  text inside http {} ($TEST_NGINX_* expanded)
#   config       text inside the node's server {} (after its listen line);
#                without it the node has no server of its own (then the
#                http_config has its servers, e.g. on $TEST_NGINX_NODE_PORT)
#   main_config  text at the top level of nginx.conf (after the load_module lines)
#   workers      worker_processes (default 2)
#   log_level    error_log level (default info)
#   port         the port (default: a free loopback port)
#   listens      more loopback ports the node must accept connections on
#                before it counts as started (e.g. those of the servers of
#                its http_config); the node's own port is waited for only
#                when it has a `config`
#   wait         seconds to wait for the node to listen (default 10)
sub start_node {
    my %o = @_;
    _install_signal_handlers();

    my $name = $o{name} || 'node';
    (my $label = $name) =~ s/[^A-Za-z0-9_-]/_/g;
    my $port = $o{port} || WxAuthTest::free_port();
    my $prefix = File::Temp::tempdir("wxauth-node-$label-XXXXXX", TMPDIR => 1,
                                     CLEANUP => !$ENV{TEST_NGINX_NO_CLEAN});
    mkdir "$prefix/$_" for qw(conf logs html);

    my $conf = '';
    for my $m (split ' ', $ENV{TEST_NGINX_LOAD_MODULES} || '') {
        $conf .= "load_module $m;\n";
    }
    my $workers = $o{workers} || 2;
    my $level = $o{log_level} || 'info';
    $conf .= ($> == 0 ? "user root;\n" : '')
           . "daemon off;\nmaster_process on;\nworker_processes $workers;\n"
           . "pid logs/nginx.pid;\nerror_log logs/error.log $level;\n"
           . _expand($o{main_config}, $port) . "\n"
           . "events { worker_connections 1024; accept_mutex off; }\n"
           . "http {\n"
           . "    access_log off;\n    default_type text/plain;\n"
           . join('', map { "    ${_}_temp_path $prefix/${_}_temp;\n" }
                          qw(client_body proxy fastcgi uwsgi scgi))
           . _expand($o{http_config}, $port) . "\n";
    if (defined $o{config}) {
        $conf .= "    server {\n        listen 127.0.0.1:$port;\n        server_name localhost;\n"
               . _expand($o{config}, $port) . "\n    }\n";
    }
    $conf .= "}\n";

    open my $out, '>', "$prefix/conf/nginx.conf"
        or die "WxAuthNodes: $prefix/conf/nginx.conf: $!\n";
    print $out $conf;
    close $out;

    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $pid = fork;
    die "WxAuthNodes: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT HUP QUIT PIPE ALRM CHLD TERM USR1 USR2 WINCH);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$prefix/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        no warnings 'exec';
        exec $bin, '-p', "$prefix/", '-c', "$prefix/conf/nginx.conf";
        POSIX::_exit(127);
    }

    my $node = bless { name => $name, port => $port, prefix => $prefix, pid => $pid,
                       workers => $workers, log_mark => 0 }, __PACKAGE__;
    push @Nodes, $node;
    Test::More::diag("WxAuthNodes: node $name in $prefix") if $ENV{TEST_NGINX_NO_CLEAN};

    # ready when it accepts connections and all of its workers are there
    my $within = $o{wait} || ($ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 10);
    my @wait = ((defined $o{config} ? ($port) : ()), @{ $o{listens} || [] });
    my $t0 = Time::HiRes::time();
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            my $status = $?;
            @Nodes = grep { $_ != $node } @Nodes;
            $node->{pid} = undef;
            die "WxAuthNodes: nginx of node $name exited (status $status):\n"
                . $node->_output;
        }
        my $listening = 0;
        for my $p (@wait) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                          Proto => 'tcp', Timeout => 1) or last;
            close $s;
            $listening++;
        }
        last if $listening == @wait && scalar(my @w = $node->worker_pids) == $workers;
        if (Time::HiRes::time() - $t0 > $within) {
            my $out = $node->_output;
            $node->stop;
            die "WxAuthNodes: node $name did not listen on 127.0.0.1:"
                . join(', ', @wait) . " with $workers workers within ${within} s:\n$out";
        }
        Time::HiRes::sleep(0.02);
    }
    return $node;
}

sub _slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $text = <$in>;
    close $in;
    return defined $text ? $text : '';
}

sub _output {
    my $self = shift;
    return "--- stderr:\n" . _slurp("$self->{prefix}/logs/stderr.log")
         . "--- error.log:\n" . _slurp("$self->{prefix}/logs/error.log");
}

sub name      { $_[0]{name} }
sub port      { $_[0]{port} }
sub prefix    { $_[0]{prefix} }
sub pid       { $_[0]{pid} }      # the master's pid (undef once stopped)
sub workers   { $_[0]{workers} }
sub error_log { "$_[0]{prefix}/logs/error.log" }

# The pids of the node's workers (the master's children), sorted.
sub worker_pids {
    my $self = shift;
    my $master = $self->{pid} or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh>;
        close $fh;
        next unless defined $line && $line =~ /^(\d+) .*\)\s+\S+\s+(\d+)/;
        push @pids, $1 if $2 == $master;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;   # in scalar context: how many
}

# The whole error log, or (with `since_mark`) what was written since the
# last mark_log().
sub log_text {
    my ($self, $since_mark) = @_;
    my $text = _slurp($self->error_log);
    return $since_mark ? substr($text, $self->{log_mark}) : $text;
}

sub mark_log {
    my $self = shift;
    $self->{log_mark} = -s $self->error_log || 0;
}

# wait_for_log(qr/.../, seconds = 5) -> 1 when a line of the error log
# matches within that time, 0 otherwise
sub wait_for_log {
    my ($self, $re, $within) = @_;
    my $t0 = Time::HiRes::time();
    while (1) {
        for my $line (split /\n/, $self->log_text) {
            return 1 if $line =~ $re;
        }
        return 0 if Time::HiRes::time() - $t0 > ($within || 5);
        Time::HiRes::sleep(0.02);
    }
}

# request("GET /path", { header => value }, body?) -> (status, \%headers, body):
# WxAuthTest::http_request against the node
sub request {
    my $self = shift;
    return WxAuthTest::http_request($self->{port}, @_);
}

# The value of one unlabelled metric of the node's wxauth_metrics location
# (at `path`, default /metrics), or undef.
sub metric {
    my ($self, $name, $path) = @_;
    my (undef, undef, $body) = eval { $self->request('GET ' . ($path || '/metrics')) };
    return defined $body && $body =~ /^\Q$name\E (\d+(?:\.\d+)?)$/m ? $1 : undef;
}

# Stops the node: TERM to the master (a fast shutdown), and after 5 s KILL to
# the master and to the workers it had. Also called for every node at the end.
sub stop {
    my $self = shift;
    my $pid = $self->{pid} or return;
    my @workers = $self->worker_pids;
    kill 'TERM', $pid;
    my $gone = 0;
    for (1 .. 250) {
        if (waitpid($pid, POSIX::WNOHANG()) != 0) { $gone = 1; last }
        Time::HiRes::sleep(0.02);
    }
    if (!$gone) {
        kill 'KILL', $pid, @workers;
        waitpid($pid, 0);
    }
    # workers the master could not reap (a worker that was stopped, say)
    for my $w (@workers) {
        kill('KILL', $w) if kill(0, $w) && _parent_of($w) == 1;
    }
    $self->{pid} = undef;
    @Nodes = grep { $_ != $self } @Nodes;
}

sub _parent_of {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $line = <$fh>;
    close $fh;
    return defined $line && $line =~ /\)\s+\S+\s+(\d+)/ ? $1 : 0;
}

1;
