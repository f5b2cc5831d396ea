package Test::Nginx::Util;

# Fallback implementation of the Test::Nginx scaffolding (server root,
# nginx.conf generation, nginx process management, error-log access).
#
# This is NOT OpenResty's Test::Nginx.  It is a small, independently written
# runner that implements the documented behaviour of Test::Nginx::Socket for
# the subset of features listed in util/test-nginx/README.md, and is only
# meant to be put on PERL5LIB when the real Test::Nginx is not installed.

use strict;
use warnings;

our $VERSION = '0.30';
our $IS_FALLBACK = 1;

use base 'Exporter';

use POSIX qw(:sys_wait_h SIGQUIT SIGKILL SIGTERM);
use File::Spec ();
use File::Path qw(remove_tree make_path);
use File::Temp ();
use List::Util qw(shuffle);
use Time::HiRes qw(sleep time);
use IO::Socket::INET ();
use Test::More ();
use Test::LongString ();
use Carp qw(croak);
use Config ();

our @EXPORT = qw(
    env_to_nginx is_str check_accum_error_log is_running
    $NoLongString no_long_string
    $ServerAddr server_addr $ServerName server_name
    parse_time verbose sleep_time bail_out add_cleanup_handler
    access_log_data error_log_data setup_server_root write_config_file
    get_canon_version get_nginx_version trim show_all_chars parse_headers
    run_tests get_pid_from_pidfile
    $ServerPortForClient $ServerPort $NginxVersion $PidFile $ServRoot
    $ConfFile $RunTestHelper $CheckErrorLog $FilterHttpConfig
    $NoNginxManager $RepeatEach
    add_block_preprocessor timeout worker_connections workers
    master_on master_off config_preamble repeat_each
    master_process_enabled log_level no_shuffle no_root_location
    html_dir server_root server_port server_port_for_client
    no_nginx_manager use_hup
);

#---------------------------------------------------------------------------
# Test modes of the real Test::Nginx that this runner does not implement.
# Fail loudly instead of silently running something different.

my %Unsupported = (
    TEST_NGINX_USE_HUP      => 'HUP reload mode',
    TEST_NGINX_USE_STAP     => 'systemtap mode',
    TEST_NGINX_CHECK_LEAK   => '"check leak" mode',
    TEST_NGINX_BENCHMARK    => 'benchmark mode',
    TEST_NGINX_USE_HTTP2    => 'HTTP/2 mode',
    TEST_NGINX_USE_HTTP3    => 'HTTP/3 mode',
    TEST_NGINX_USE_RR       => 'rr recording mode',
);

for my $var (sort keys %Unsupported) {
    if ($ENV{$var}) {
        die "Test::Nginx fallback runner (util/test-nginx): $var "
            . "($Unsupported{$var}) is not supported; install the real "
            . "Test::Nginx from CPAN/OpenResty to use it.\n";
    }
}

#---------------------------------------------------------------------------
# Settings (package variables so that test files can inspect/override them,
# as they can with the real module).

our $Verbose              = $ENV{TEST_NGINX_VERBOSE};
our $NginxBinary          = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $Workers              = 1;
our $WorkerConnections    = 64;
our $LogLevel             = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled        = 'on';
our $ServerPort           = $ENV{TEST_NGINX_SERVER_PORT}
                            || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient  = $ENV{TEST_NGINX_CLIENT_PORT}
                            || $ServerPort || 1984;
our $ServerAddr           = '127.0.0.1';
our $ServerName           = 'localhost';
our $NoRootLocation       = 0;
our $RepeatEach           = 1;
our $NoShuffle            = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoNginxManager       = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $NoLongString;
our $Timeout              = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep       = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $LoadModules          = $ENV{TEST_NGINX_LOAD_MODULES};
our $UseValgrind          = $ENV{TEST_NGINX_USE_VALGRIND};
our $EventType            = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput       = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort            = $ENV{TEST_NGINX_REUSE_PORT};
our $CheckAccumErrLog     = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Randomize            = $ENV{TEST_NGINX_RANDOMIZE};
our $WorkerUser           = $ENV{TEST_NGINX_WORKER_USER};
our $ConfigPreamble       = '';
our $FilterHttpConfig;
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;

# hooks filled in by Test::Nginx::Socket
our $RunTestHelper;
our $CheckErrorLog;

# run-time state
our ($NginxVersion, $NginxRawVersion, $OpenSSLVersion);
our $ErrLogFilePos = 0;
our $PrevConfig;
our $ChildPid;          # nginx run in the foreground (valgrind mode)
our @HelperPids;        # embedded tcp/udp servers of the current block
our $NginxStartedByUs;  # true while an nginx we started may be running
our $MainPid = $$;
our $TotalConnectingTimeouts = 0;
my  $CompiledTempPaths;

if (defined $WorkerUser && $WorkerUser !~ /^\w+(?:\s+\w+)?$/) {
    die "Bad value in the env TEST_NGINX_WORKER_USER: $WorkerUser\n";
}

if ($UseValgrind) {
    # nginx has to stay in the foreground so that valgrind keeps tracking it
    $DaemonEnabled = 'off';
}

srand $$;

sub gen_rand_port {
    my ($tries, $used) = @_;
    $tries ||= 1000;
    $used  ||= {};
    for (1 .. $tries) {
        my $port = 1985 + int rand 63550;
        next if $used->{$port};
        my $sock = IO::Socket::INET->new(
            LocalAddr => $ServerAddr,
            LocalPort => $port,
            Proto     => 'tcp',
            ReuseAddr => 0,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
    }
    return undef;
}

if ($Randomize) {
    $ServerPort = gen_rand_port()
        or die "Cannot find an available listening port number\n";
    $ServerPortForClient = $ServerPort;
}

our $ServRoot = $Randomize
    ? File::Spec->rel2abs("t/servroot_$ServerPort")
    : ($ENV{TEST_NGINX_SERVROOT}
        ? File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT})
        : File::Spec->rel2abs('t/servroot'));

$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = File::Spec->catfile($ServRoot, 'logs');
our $ErrLogFile = File::Spec->catfile($LogDir, 'error.log');
our $AccLogFile = File::Spec->catfile($LogDir, 'access.log');
our $HtmlDir    = File::Spec->catfile($ServRoot, 'html');
our $ConfDir    = File::Spec->catfile($ServRoot, 'conf');
our $ConfFile   = File::Spec->catfile($ConfDir, 'nginx.conf');
our $PidFile    = File::Spec->catfile($LogDir, 'nginx.pid');

#---------------------------------------------------------------------------
# Small public helpers

sub verbose { $Verbose }
sub sleep_time { $TestNginxSleep }
sub html_dir () { $HtmlDir }
sub server_root () { $ServRoot }
sub no_shuffle () { $NoShuffle = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub config_preamble ($) { $ConfigPreamble = shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub use_hup () {
    die "Test::Nginx fallback runner: use_hup() (HUP reload mode) is not "
        . "supported; install the real Test::Nginx to use it.\n";
}

# getter/setter helpers: with an argument they set, without they return
sub _accessor {
    my ($ref, @args) = @_;
    $$ref = $args[0] if @args;
    return $$ref;
}

sub repeat_each (@)        { _accessor(\$RepeatEach, @_) }
sub workers (@)            { _accessor(\$Workers, @_) }
sub worker_connections (@) { _accessor(\$WorkerConnections, @_) }
sub log_level (@)          { _accessor(\$LogLevel, @_) }
sub timeout (@)            { _accessor(\$Timeout, @_) }
sub server_addr (@)        { _accessor(\$ServerAddr, @_) }
sub server_name (@)        { _accessor(\$ServerName, @_) }
sub server_port (@)        { _accessor(\$ServerPort, @_) }
sub server_port_for_client (@) { _accessor(\$ServerPortForClient, @_) }

sub master_process_enabled (@) {
    if (@_) {
        $MasterProcessEnabled = $_[0] ? 'on' : 'off';
    }
    return $MasterProcessEnabled;
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    if ($NoLongString) {
        return Test::More::is($got, $expected, $desc);
    }
    return Test::LongString::is_string($got, $expected, $desc);
}

# "1.5", "1.5s" and "200ms" => seconds
sub parse_time ($) {
    my $t = shift;
    return $t unless defined $t;
    if ($t =~ /^\s*([\d.]+)\s*ms\s*$/) {
        return $1 / 1000;
    }
    if ($t =~ /^\s*([\d.]+)\s*s?\s*$/) {
        return $1;
    }
    return $t;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+//;
    $s =~ s/\s+$//;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

# Parses a "--- response_headers" style value.  One header per line,
# "Name: value" means "must equal", "!Name" means "must be absent"
# (stored as undef).
sub parse_headers ($) {
    my $text = shift;
    my %h;
    for my $line (split /^/m, defined $text ? $text : '') {
        $line =~ s/^\s+//;
        $line =~ s/\s+$//;
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
            next;
        }
        my ($k, $v) = split /\s*:\s*/, $line, 2;
        $k = '' unless defined $k;
        $h{$k} = $v;
    }
    return \%h;
}

sub get_canon_version (@) {
    return sprintf "%d.%03d%03d", $_[0], $_[1], $_[2];
}

sub _canon_openssl_version {
    my ($maj, $min, $patch, $letter) = @_;
    my $v = get_canon_version($maj, $min, $patch);
    $v .= sprintf "%03d", ord($letter) - ord('a') if defined $letter;
    return $v;
}

sub get_nginx_version () {
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("Failed to get the version of the Nginx in PATH: "
                 . (defined $out ? $out : ''));
    }

    if ($out =~ m{built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z])?}) {
        $OpenSSLVersion = _canon_openssl_version($1, $2, $3, $4);
    }

    $CompiledTempPaths = {};
    for my $kind (qw(client-body proxy fastcgi uwsgi scgi)) {
        if ($out =~ m{--http-\Q$kind\E-temp-path=(\S+)}) {
            $CompiledTempPaths->{$kind} = $1;
        }
    }

    if ($out =~ m{(?:nginx|openresty)[^/\s]*/(\d+)\.(\d+)\.(\d+)}
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)})
    {
        $NginxRawVersion = "$1.$2.$3";
        return get_canon_version($1, $2, $3);
    }

    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

#---------------------------------------------------------------------------
# Process helpers

sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/;
    return 0 unless kill 0, $pid;
    # an exited daemon that nobody reaped yet is not "running"
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh>;
        close $fh;
        return 0 if defined $stat && $stat =~ /^\d+ \(.*\) Z /s;
    }
    return 1;
}

sub _looks_like_nginx {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;  # no /proc: trust it
    local $/;
    my $cmd = <$fh>;
    close $fh;
    return 0 unless defined $cmd;
    $cmd =~ s/\0/ /g;
    return $cmd =~ /nginx|valgrind|memcheck/ ? 1 : 0;
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile
        or bail_out("$name - Failed to open the pid file $PidFile for reading: $!");
    my $pid = do { local $/; <$in> };
    close $in;
    $pid = '' unless defined $pid;
    $pid =~ s/\s+//g;
    return $pid;
}

sub _read_pidfile_quietly {
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# nginx daemonizes; make the test process the "subreaper" of its
# descendants (Linux) so that exited daemons are reaped here instead of
# lingering as zombies when PID 1 does not reap (as in some containers).
sub _become_subreaper {
    return unless $^O eq 'linux';
    my %sys_prctl = (x86_64 => 157, aarch64 => 167, i686 => 172,
                     i386 => 172);
    my ($arch) = $Config::Config{archname} =~ /^([^-]+)/;
    my $nr = defined $arch ? $sys_prctl{$arch} : undef;
    return unless $nr;
    local $!;
    syscall($nr, 36, 1, 0, 0, 0);    # PR_SET_CHILD_SUBREAPER
}

_become_subreaper();

sub _reap {
    my $pid = shift;
    waitpid($pid, WNOHANG) if defined $pid;
    waitpid($ChildPid, WNOHANG) if defined $ChildPid;
}

sub _wait_gone {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        _reap($pid);
        return 1 unless is_running($pid);
        sleep 0.02;
    }
    _reap($pid);
    return !is_running($pid);
}

# Terminate a process: graceful signal first, then TERM, then KILL.
sub kill_process ($$$) {
    my ($pid, $graceful, $name) = @_;
    return unless is_running($pid);

    if ($graceful) {
        warn "sending QUIT signal to $pid\n" if $Verbose;
        kill SIGQUIT, $pid;
        return if _wait_gone($pid, timeout());
        warn "$name - timeout when waiting for the process $pid to exit\n";
    }

    my $step = $TestNginxSleep;
    for (1 .. 20) {
        return unless is_running($pid);
        kill SIGTERM, $pid;
        $step *= 1.2;
        $step = 0.5 if $step > 0.5;
        return if _wait_gone($pid, $step);
    }

    warn "$name - WARNING: killing the process $pid with force...\n";
    my $pgrp = getpgrp($pid);
    if (defined $pgrp && $pgrp == $pid) {
        kill SIGKILL, -$pid;
    } else {
        kill SIGKILL, $pid;
    }
    _wait_gone($pid, 2);
}

# Stop the nginx recorded in our pid file (if it is alive), and the
# foreground child in valgrind mode.
sub stop_nginx ($) {
    my $name = shift;

    my $pid = _read_pidfile_quietly();
    _reap($pid);
    if (defined $pid && is_running($pid)) {
        if (_looks_like_nginx($pid)) {
            kill_process($pid, 1, $name);
        } else {
            warn "WARNING: $name - pid file $PidFile names process $pid "
                 . "which is not nginx; leaving it alone\n";
        }
    }

    if (defined $ChildPid) {
        if (is_running($ChildPid)) {
            kill_process($ChildPid, 1, $name);
        }
        waitpid($ChildPid, 0) if kill 0, $ChildPid;
        undef $ChildPid;
    }

    if (-f $PidFile) {
        my $left = _read_pidfile_quietly();
        if (!defined $left || !is_running($left)) {
            unlink $PidFile;
        }
    }

    undef $NginxStartedByUs;
}

sub stop_helpers {
    my $name = shift;
    for my $pid (@HelperPids) {
        next unless defined $pid;
        kill_process($pid, 0, $name) if is_running($pid);
        waitpid($pid, 0);
    }
    @HelperPids = ();
}

sub cleanup () {
    return unless $$ == $MainPid;
    for my $hdl (@CleanupHandlers) {
        eval { $hdl->() };
        warn "cleanup handler failed: $@" if $@;
    }
    stop_helpers('cleanup');
    if (defined $ChildPid) {
        stop_nginx('cleanup');
    }
}

sub bail_out (@) {
    cleanup();
    stop_nginx('bail_out') if $$ == $MainPid && !$NoNginxManager;
    Test::More::BAIL_OUT(join '', @_);
}

#---------------------------------------------------------------------------
# Logs

sub error_log_data () {
    # give nginx a moment to write log lines of the log phase, which
    # runs after the response has been sent
    sleep $TestNginxSleep * 3;

    open my $in, '<', $ErrLogFile or return undef;
    if (!$CheckAccumErrLog && $ErrLogFilePos > 0) {
        seek $in, $ErrLogFilePos, 0;
    }
    my @lines = <$in>;
    if (!$CheckAccumErrLog) {
        $ErrLogFilePos = tell $in;
    }
    close $in;
    return \@lines;
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    open my $in, '<', $AccLogFile or do {
        return undef if $AccLogFile eq 'off';
        die "open $AccLogFile failed: $!";
    };
    my @lines = <$in>;
    close $in;
    return \@lines;
}

#---------------------------------------------------------------------------
# Server root and nginx.conf

sub setup_server_root () {
    if (-d $ServRoot) {
        # only remove what we create ourselves, so that a mis-pointed
        # TEST_NGINX_SERVROOT cannot wipe unrelated data
        remove_tree($ConfDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
        rmdir $ServRoot
            or bail_out("Can't remove $ServRoot (not empty?): $!");
    }

    for my $dir ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        mkdir $dir or bail_out("Failed to do mkdir $dir: $!");
    }

    my $index = "$HtmlDir/index.html";
    open my $out, '>', $index
        or bail_out("Can't open $index for writing: $!\n");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef unless defined $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_[0-9]+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = ($ServerPort => 1,
                            map { $_ => 1 } values %$rand_ports);
                my $p = gen_rand_port(1000, \%used);
                bail_out("$name - Cannot find an available listening port "
                         . "number for $var.\n") unless defined $p;
                $rand_ports->{$var} = $p;
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;

    return $text;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name  = $block->name;
    my $files = $block->user_files;
    return unless $files;

    my @list;
    if (!ref $files) {
        my ($fname, $body, $date);
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+))?/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
    } elsif (ref $files eq 'ARRAY') {
        @list = @$files;
    } else {
        bail_out("$name - wrong value type: " . ref($files)
                 . ", only scalar or ARRAY are accepted");
    }

    for my $f (@list) {
        my ($fname, $body, $date) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/[^/]*$} && !-d $1) {
            make_path($1) or bail_out("$name - Cannot create directory $1");
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - Cannot open $path for writing: $!\n");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            my $cmd = "TZ=GMT touch -t '$date' '$path'";
            system($cmd) == 0
                or bail_out("Failed to run shell command: $cmd\n");
        }
    }
}

# Debian-style builds hard-code absolute temp paths (/var/lib/nginx/...).
# The real Test::Nginx does not set any *_temp_path; neither do we, except
# when running as non-root against such a binary whose compiled-in temp
# directories are not writable (nginx would refuse to start).
sub _temp_path_directives {
    my ($config_text) = @_;
    return '' if $> == 0;
    return '' unless $CompiledTempPaths;
    my %directive = (
        'client-body' => ['client_body_temp_path', 'client_body_temp'],
        'proxy'       => ['proxy_temp_path',       'proxy_temp'],
        'fastcgi'     => ['fastcgi_temp_path',     'fastcgi_temp'],
        'uwsgi'       => ['uwsgi_temp_path',       'uwsgi_temp'],
        'scgi'        => ['scgi_temp_path',        'scgi_temp'],
    );
    my $out = '';
    for my $kind (sort keys %$CompiledTempPaths) {
        my $path = $CompiledTempPaths->{$kind};
        next unless $path =~ m{^/};
        my ($dir_directive, $subdir) = @{ $directive{$kind} };
        next if $config_text =~ /\b\Q$dir_directive\E\b/;
        my $usable = -d $path ? -w $path
                   : do { (my $parent = $path) =~ s{/[^/]+/?$}{};
                          $parent = '/' if $parent eq '';
                          -d $parent && -w $parent };
        next if $usable;
        $out .= "    $dir_directive $ServRoot/$subdir;\n";
    }
    return $out;
}

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;

    my $name        = $block->name;
    my $http_config = expand_env_in_text($block->http_config, $name,
                                         $rand_ports);
    my $main_config = $block->main_config;
    my $post_main   = expand_env_in_text($block->post_main_config, $name,
                                         $rand_ports);
    my $err_log     = $block->error_log_file || $ErrLogFile;
    my $server_name = $block->server_name;
    $server_name = $ServerName unless defined $server_name;

    $config      = '' unless defined $config;
    $http_config = '' unless defined $http_config;
    $main_config = '' unless defined $main_config;
    $post_main   = '' unless defined $post_main;

    $http_config = $FilterHttpConfig->($http_config) if $FilterHttpConfig;

    my $postpone = $PostponeOutput;
    undef $postpone if $http_config =~ /\bpostpone_output\b/;
    if (defined $postpone && $postpone !~ /^\d+$/) {
        bail_out("Bad TEST_NGINX_POSTPONE_OUTPUT value: $postpone\n");
    }

    if ($LoadModules) {
        my @mods = grep { length } split /\s+/, $LoadModules;
        $main_config .= join ' ', map { "load_module $_;" } @mods;
    }
    $main_config = expand_env_in_text($main_config, $name, $rand_ports);

    my $listen = $ServerPort . ($ReusePort ? ' reuseport' : '');

    my @env = qw(MOCKEAGAIN_VERBOSE MOCKEAGAIN MOCKEAGAIN_WRITE_TIMEOUT_PATTERN
                 LD_PRELOAD LD_LIBRARY_PATH DYLD_INSERT_LIBRARIES
                 DYLD_FORCE_FLAT_NAMESPACE);
    my $env_lines = join '', map { "env $_;\n" } @env;
    for my $v (@EnvToNginx) {
        my $val = $v =~ /\s/ ? "'$v'" : $v;
        $env_lines .= "env $val;\n";
    }

    my $temp_paths = _temp_path_directives("$http_config\n$config");

    my $root_location = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    my $postpone_line = defined $postpone
                        ? "\n    postpone_output $postpone;\n" : '';
    my $event_use = $EventType ? "    use $EventType;\n" : '';

    my $user_line = '';
    if (defined $WorkerUser) {
        $user_line = "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $user_line = "user root;\n";
    }

    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon $DaemonEnabled;
master_process $MasterProcessEnabled;
error_log $err_log $LogLevel;
pid       $PidFile;
$env_lines#env LUA_PATH;
#env LUA_CPATH;

$main_config

http {
    access_log $AccLogFile;
    #access_log off;

    default_type text/plain;
    keepalive_timeout  68;
$temp_paths$postpone_line
$http_config

    server {
        listen          $listen;
        server_name     '$server_name';

        client_max_body_size 30M;
        #client_body_buffer_size 4k;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main

#timer_resolution 100ms;

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
$event_use}
env ASAN_OPTIONS;
env MOCKNOEAGAIN_VERBOSE;
env MOCKNOEAGAIN;
$user_line
_EOC_

    open my $out, '>', $ConfFile
        or bail_out("Can't open $ConfFile for writing: $!\n");
    print $out $conf;
    close $out;
}

#---------------------------------------------------------------------------
# Starting nginx

sub can_run {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x $cmd) ? $cmd : undef;
    }
    for my $dir (split(/\Q$Config::Config{path_sep}\E/, $ENV{PATH} || ''),
                 '.')
    {
        next if $dir eq '';
        my $abs = File::Spec->catfile($dir, $cmd);
        return $abs if -f $abs && -x $abs;
    }
    return undef;
}

sub _nginx_cmd {
    my $cmd = "$NginxBinary -p $ServRoot/ -c $ConfFile";
    if ($UseValgrind) {
        if ($UseValgrind =~ /^\d+$/) {
            my $opts = "--tool=memcheck --leak-check=full "
                       . "--show-possibly-lost=no";
            my $supp = -f 'valgrind.suppress'
                       ? ' --suppressions=valgrind.suppress' : '';
            $cmd = "valgrind --num-callers=100 -q $opts "
                   . "--gen-suppressions=all$supp $cmd";
        } else {
            $cmd = "valgrind -q $UseValgrind $cmd";
        }
    }
    return $cmd;
}

sub _missing_directive {
    my $text = shift;
    return $1 if $text =~ /\[emerg\] \S+?: unknown directive "([^"]+)"/;
    return undef;
}

sub _slurp {
    my $file = shift;
    open my $in, '<', $file or return '';
    local $/;
    my $s = <$in>;
    close $in;
    return defined $s ? $s : '';
}

# Run the nginx command in the foreground (daemon mode: nginx detaches by
# itself).  Returns ($status, $stderr_text).
sub _run_nginx_once {
    my $cmd = shift;
    my $errfile = File::Temp->new(TEMPLATE => 'tnginx-startXXXXXX',
                                  TMPDIR => 1);
    my $errname = $errfile->filename;
    system("$cmd > /dev/null 2> '$errname'");
    my $status = $?;
    my $stderr = _slurp($errname);
    print STDERR $stderr if length $stderr;
    return ($status, $stderr);
}

sub _wait_for_pidfile {
    my ($secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if defined _read_pidfile_quietly();
        if (defined $ChildPid && waitpid($ChildPid, WNOHANG) == $ChildPid) {
            undef $ChildPid;
            return 0;
        }
        sleep 0.01;
    }
    return 0;
}

# Returns the dry-run reason (or 0) on success; bails out on failure.
sub start_nginx ($) {
    my ($name) = @_;

    if (!can_run($NginxBinary)) {
        bail_out("$name - Cannot find the nginx executable in the PATH "
                 . "environment");
    }

    my $cmd = _nginx_cmd();

    if ($UseValgrind) {
        warn "$name\n";
        my $pid = fork();
        bail_out("$name - fork() failed: $!") unless defined $pid;
        if ($pid == 0) {
            setpgrp(0, 0);
            exec "exec $cmd" or POSIX::_exit(127);
        }
        $ChildPid = $pid;
        $NginxStartedByUs = 1;
        _wait_for_pidfile(30);
        sleep $TestNginxSleep;
        return 0;
    }

    my $started = time;
    my $try = 0;
    while (1) {
        my ($status, $stderr) = _run_nginx_once($cmd);
        if ($status == 0) {
            $NginxStartedByUs = 1;
            _wait_for_pidfile(5);
            last;
        }

        if ($ENV{TEST_NGINX_IGNORE_MISSING_DIRECTIVES}) {
            my $d = _missing_directive($stderr . _slurp($ErrLogFile));
            return "the lack of directive $d" if defined $d;
        }

        # Configuration errors will not go away by retrying; only a busy
        # listening port (e.g. a previous nginx still shutting down) may.
        my $retriable = $stderr !~ /\[emerg\]/
                        || $stderr =~ /Address already in use/;
        $try++;
        my $delay = 0.1 * $try;
        $delay = 1 if $delay > 1;
        if (!$retriable || time - $started >= 30) {
            bail_out("$name - Cannot start nginx using command \"$cmd\" "
                     . "(status code $status).");
        }
        sleep $delay;
    }

    sleep $TestNginxSleep;
    return 0;
}

#---------------------------------------------------------------------------
# Block runner

sub _skip_and_todo {
    my ($block) = @_;
    my $name = $block->name;
    my ($tests_to_skip, $should_skip, $skip_reason);

    if (defined(my $spec = $block->skip_eval)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $tests_to_skip = $1;
            $skip_reason = 'skip_eval';
            my $code = $2;
            $should_skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code "
                     . "\"$code\": $@") if $@;
        }
    }

    my $ver_re = qr/([<>]=?)\s*(\d+)\.(\d+)\.(\d+)/;
    my $cmp = sub {
        my ($op, @v) = @_;
        return 0 unless defined $NginxVersion;
        my $want = get_canon_version(@v);
        return eval "$NginxVersion $op $want";
    };

    if (defined(my $spec = $block->skip_nginx)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*$ver_re(?:\s*:\s*(.*))?\s*$/) {
            $tests_to_skip = $1;
            my ($op, @v) = ($2, $3, $4, $5);
            $skip_reason = $6 || "nginx version $op $3.$4.$5";
            $should_skip = 1
                if (!defined $NginxVersion && $op =~ /^</)
                   || $cmp->($op, @v);
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $spec");
        }
    } elsif (defined(my $spec2 = $block->skip_nginx2)) {
        if ($spec2 =~ /^\s*(\d+)\s*:\s*$ver_re\s*(or|and)\s*$ver_re
                       (?:\s*:\s*(.*))?\s*$/x)
        {
            $tests_to_skip = $1;
            my ($opa, @va) = ($2, $3, $4, $5);
            my $how = $6;
            my ($opb, @vb) = ($7, $8, $9, $10);
            $skip_reason = $11;
            my ($ok_a, $ok_b) = ($cmp->($opa, @va), $cmp->($opb, @vb));
            $should_skip = 1
                if !defined $NginxVersion
                   || ($how eq 'or' ? ($ok_a || $ok_b) : ($ok_a && $ok_b));
        } else {
            bail_out("$name - Invalid --- skip_nginx2 spec: $spec2");
        }
    }

    if (defined(my $spec = $block->skip_openssl)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)([a-z])?
                      (?:\s*:\s*(.*))?\s*$/x)
        {
            $tests_to_skip = $1;
            my ($op, @v) = ($2, $3, $4, $5, $6);
            $skip_reason = $7
                || (defined $OpenSSLVersion
                    ? "OpenSSL version $op $3.$4.$5" . (defined $6 ? $6 : '')
                    : "Not built with OpenSSL");
            my $want = _canon_openssl_version(@v);
            $should_skip = 1
                if !defined $OpenSSLVersion
                   || eval "$OpenSSLVersion $op $want";
        } else {
            bail_out("$name - Invalid --- skip_openssl spec: $spec");
        }
    }

    $skip_reason = 'various reasons' unless defined $skip_reason;

    my ($should_todo, $todo_reason);
    if (defined(my $spec = $block->todo_nginx)) {
        if ($spec =~ /^\s*$ver_re(?:\s*:\s*(.*))?\s*$/) {
            my ($op, @v) = ($1, $2, $3, $4);
            $todo_reason = $5;
            $should_todo = 1
                if (!defined $NginxVersion && $op =~ /^</)
                   || $cmp->($op, @v);
        } else {
            bail_out("$name - Invalid --- todo_nginx spec: $spec");
        }
    }
    if (defined(my $spec = $block->todo)) {
        if ($spec =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $should_todo = 1;
            $tests_to_skip = $1;
            $todo_reason = $2;
        } else {
            bail_out("$name - Invalid --- todo spec: $spec");
        }
    }
    $todo_reason = 'various reasons' unless defined $todo_reason;

    return ($tests_to_skip, $should_skip, $skip_reason,
            $should_todo, $todo_reason);
}

sub run_tests () {
    $NginxVersion = get_nginx_version();

    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
    }

    cleanup();
}

sub _run_block_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;
    my $cmd = _nginx_cmd();

    $ErrLogFilePos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        my ($status, $stderr) = _run_nginx_once($cmd);
        my $exit = $status >> 8;
        my $core = $status & 128;

        if ($status == -1) {
            Test::More::fail("$name - failed to execute the nginx command line");
        } elsif ($core) {
            Test::More::fail("$name - nginx core dumped");
        } elsif ($must_die =~ /^\s*-?\d+\s*$/) {
            Test::More::is($must_die, $exit,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected");
        }

        $CheckErrorLog->($block, undef, 0, $i, 0);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $i)\n";
            _wait_for_pidfile(1);
            stop_nginx($name);
        }
    }
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;

    for my $unsupported (qw(http2 http3)) {
        next unless defined $block->$unsupported;
        bail_out("$name - --- $unsupported is not supported by the "
                 . "fallback Test::Nginx runner");
    }

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    local $LogLevel = $block->log_level || $LogLevel;

    my ($tests_to_skip, $should_skip, $skip_reason,
        $should_todo, $todo_reason) = _skip_and_todo($block);

    my $dry_run = 0;
    my $reuse_conf;

    if (!defined $config) {
        if (!$NoNginxManager && !defined $PrevConfig) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one. Use TEST_NGINX_NO_NGINX_MANAGER ?");
        }
        # like the real Test::Nginx: keep using the previous block's
        # server (restarted from its nginx.conf if we stopped it)
        $reuse_conf = 1;
    } elsif ($NoNginxManager) {
        Test::More::diag("NO_NGINX_MANAGER activated: config for $name ignored");
    }

    if (!$NoNginxManager && !$should_skip) {
        my $running = 0;
        if ($reuse_conf) {
            my $pid = _read_pidfile_quietly();
            $running = defined $pid && is_running($pid);
        }

        if (!$running) {
            stop_nginx($name);

            if (!$reuse_conf) {
                $PrevConfig = $config;
                setup_server_root();
                write_user_files($block, $rand_ports);
                write_config_file($block, $config, $rand_ports);
            }

            if (defined(my $must_die = $block->must_die)) {
                _run_block_must_die($block, $must_die);
                return;
            }

            $dry_run = start_nginx($name);
            $ErrLogFilePos = 0;
        }
    }

    if (my $init = $block->init) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $i (1 .. $RepeatEach) {
        write_user_files($block, $rand_ports) if $i > 1;

        my $servers = Test::Nginx::Socket::start_mock_servers($block);

        if ($should_skip && defined $tests_to_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $tests_to_skip);
            }
        } elsif ($should_todo) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason",
                                      $tests_to_skip || 1);
            }
        } else {
            $RunTestHelper->($block, $dry_run, $i - 1);
            Test::Nginx::Socket::check_mock_servers($block, $servers);
        }

        Test::Nginx::Socket::stop_mock_servers($block, $servers);
    }

    if (my $total = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile) {
            open my $out, '>>', $total
                or bail_out("Failed to append test case title to $total: $!\n");
            print $out "\n=== $0 $name\n", _slurp($ErrLogFile);
            close $out;
        }
    }

    # This runner never leaves nginx behind between blocks (the real
    # Test::Nginx stops it lazily when the next block starts).
    if (!$NoNginxManager && !$ENV{TEST_NGINX_NO_CLEAN}) {
        stop_nginx($name);
    }

    # what nginx logged while exiting (the real module checks this when
    # it stops this block's nginx, i.e. when the next block starts)
    if (defined $block->shutdown_error_log) {
        my $shutdown_dry = $ENV{TEST_NGINX_NO_CLEAN} || $NoNginxManager
                           ? 'TEST_NGINX_NO_CLEAN or no nginx manager' : 0;
        Test::Nginx::Socket::check_shutdown_error_log($block, $shutdown_dry);
    }
}

#---------------------------------------------------------------------------
# Make sure nothing we started survives the test process.

sub _final_cleanup {
    return unless $$ == $MainPid;
    cleanup();
    if (!$NoNginxManager && (!$ENV{TEST_NGINX_NO_CLEAN} || $UseValgrind)) {
        stop_nginx('END');
    }
    1 while waitpid(-1, WNOHANG) > 0;
    if ($Randomize && defined $ServRoot && $ServRoot =~ m{/t/servroot_\d+$}
        && -d $ServRoot)
    {
        remove_tree($ServRoot);
    }
}

for my $sig (qw(INT TERM HUP QUIT PIPE)) {
    next if defined $SIG{$sig} && $SIG{$sig} ne 'DEFAULT';
    $SIG{$sig} = sub {
        $SIG{$sig} = 'IGNORE';
        _final_cleanup() if $$ == $MainPid;
        # re-raise with the default disposition so that the exit status
        # tells the truth about what happened (perl blocks the signal
        # while its handler runs: unblock it)
        $SIG{$sig} = 'DEFAULT';
        my $num = eval "POSIX::SIG$sig()";
        if ($num) {
            POSIX::sigprocmask(POSIX::SIG_UNBLOCK(),
                               POSIX::SigSet->new($num));
            kill $num, $$;
        }
        POSIX::_exit(128 + ($num || 1));
    };
}

END {
    local $?;
    _final_cleanup();
}

1;
