package WxAuthH2;

# A small HTTP/2 client for the suites, cleartext with prior knowledge (RFC 9113
# section 3.3), enough to open streams, send bodies, reset streams and read the
# answers nginx gives; what curl cannot do on purpose: reset one stream
# (RST_STREAM) while nginx still waits for Redis or WeChat, and go on using the
# same connection.
#
#   my $c = WxAuthH2->new($port);
#   $c->request(1, 'POST', '/login', { 'content-type' => 'application/json' }, $body);
#   my ($status, $body) = $c->response(1);
#   $c->request(3, 'GET', '/api/x', { 'x-wx-session' => $token });
#   $c->rst(3);                       # RST_STREAM, CANCEL
#   $c->request(5, 'POST', '/login', {...}, $part, open => 1);   # body still to come
#   $c->data(5, $rest, 1);           # DATA, END_STREAM
#   $c->disconnect;
#
# Requests are HPACK-encoded without Huffman coding or the dynamic table. Of an
# answer's header block only :status is read: nginx sends it first, as an index
# of the static table or as a literal it never Huffman-codes.
#
# Plain Perl, core modules only.

use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

my %Type = (DATA => 0, HEADERS => 1, RST_STREAM => 3, SETTINGS => 4, PING => 6,
            GOAWAY => 7, WINDOW_UPDATE => 8, CONTINUATION => 9);
my %StaticStatus = (8 => 200, 9 => 204, 10 => 206, 11 => 304, 12 => 400, 13 => 404,
                    14 => 500);

sub new {
    my ($class, $port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 3)
        or die "WxAuthH2: cannot connect to 127.0.0.1:$port: $!\n";
    binmode $sock;
    my $c = bless { sock => $sock, buf => '', streams => {}, goaway => undef }, $class;
    $c->_write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    $c->_frame('SETTINGS', 0, 0, '');
    return $c;
}

# HPACK integer with an N-bit prefix (RFC 7541 section 5.1), first byte's high bits in $high
sub _int {
    my ($value, $bits, $high) = @_;
    my $max = (1 << $bits) - 1;
    return chr($high | $value) if $value < $max;
    my $out = chr($high | $max);
    $value -= $max;
    while ($value >= 128) {
        $out .= chr(($value & 0x7f) | 0x80);
        $value >>= 7;
    }
    return $out . chr($value);
}

sub _string { my $s = shift; return _int(length $s, 7, 0) . $s }

sub _header_block {
    my ($method, $path, $headers) = @_;
    my $block = $method eq 'GET' ? "\x82" : $method eq 'POST' ? "\x83"
              : _int(2, 4, 0) . _string($method);       # :method, literal, indexed name
    $block .= "\x86";                                     # :scheme http
    $block .= _int(4, 4, 0) . _string($path);            # :path, literal, indexed name
    $block .= _int(1, 4, 0) . _string('localhost');      # :authority
    for my $name (sort keys %{ $headers || {} }) {
        $block .= "\x00" . _string(lc $name) . _string($headers->{$name});
    }
    return $block;
}

sub _write {
    my ($c, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($c->{sock}, $bytes, length($bytes) - $off, $off);
        die "WxAuthH2: write failed: $!\n" unless defined $n;
        $off += $n;
    }
}

sub _frame {
    my ($c, $type, $flags, $sid, $payload) = @_;
    $c->_write(substr(pack('N', length $payload), 1) . pack('CCN', $Type{$type}, $flags, $sid)
               . $payload);
}

# HEADERS (END_HEADERS), then the body as DATA unless `open => 1` leaves the
# stream open for data(); a request without a body ends with its HEADERS.
sub request {
    my ($c, $sid, $method, $path, $headers, $body, %o) = @_;
    my %h = %{ $headers || {} };
    $h{'content-length'} = length $body if defined $body && !exists $h{'content-length'};
    my $end_on_headers = !defined $body && !$o{open};
    $c->_frame('HEADERS', 0x4 | ($end_on_headers ? 0x1 : 0), $sid,
               _header_block($method, $path, \%h));
    $c->data($sid, $body, !$o{open}) if defined $body;
}

sub data {
    my ($c, $sid, $bytes, $end) = @_;
    $c->_frame('DATA', $end ? 0x1 : 0, $sid, $bytes);
}

sub rst {
    my ($c, $sid, $code) = @_;
    $c->_frame('RST_STREAM', 0, $sid, pack('N', defined $code ? $code : 0x8));   # CANCEL
}

# Reads frames until the stream is answered (END_STREAM) or reset, within
# $timeout seconds: (status, body), or (undef, why).
sub response {
    my ($c, $sid, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout || 5);
    while (1) {
        my $s = $c->{streams}{$sid};
        return ($s->{status}, $s->{body}) if $s && $s->{ended};
        return (undef, "stream $sid reset by nginx (error $s->{reset})")
            if $s && defined $s->{reset};
        return (undef, "GOAWAY from nginx (error $c->{goaway})") if defined $c->{goaway};
        my $left = $deadline - Time::HiRes::time();
        return (undef, "no answer on stream $sid within ${\($timeout || 5)} s") if $left <= 0;
        $c->_read_frames($left) or return (undef, 'nginx closed the connection');
    }
}

sub _read_frames {
    my ($c, $wait) = @_;
    if (length($c->{buf}) < 9 || length($c->{buf}) < 9 + unpack('N', "\0" . substr($c->{buf}, 0, 3))) {
        return 1 unless IO::Select->new($c->{sock})->can_read($wait);
        my $n = sysread($c->{sock}, my $more, 65536);
        return 0 unless $n;
        $c->{buf} .= $more;
    }
    while (length $c->{buf} >= 9) {
        my $len = unpack('N', "\0" . substr($c->{buf}, 0, 3));
        last if length $c->{buf} < 9 + $len;
        my ($type, $flags, $sid) = unpack('CCN', substr($c->{buf}, 3, 6));
        $sid &= 0x7fffffff;
        my $payload = substr($c->{buf}, 9, $len);
        substr($c->{buf}, 0, 9 + $len) = '';
        $c->_frame_in($type, $flags, $sid, $payload);
    }
    return 1;
}

sub _frame_in {
    my ($c, $type, $flags, $sid, $payload) = @_;
    if ($type == $Type{SETTINGS}) {
        $c->_frame('SETTINGS', 0x1, 0, '') unless $flags & 0x1;
    } elsif ($type == $Type{PING}) {
        $c->_frame('PING', 0x1, 0, $payload) unless $flags & 0x1;
    } elsif ($type == $Type{GOAWAY}) {
        $c->{goaway} = unpack('N', substr($payload, 4, 4));
    } elsif ($type == $Type{RST_STREAM}) {
        $c->{streams}{$sid}{reset} = unpack('N', $payload);
    } elsif ($type == $Type{HEADERS}) {
        my $block = $payload;
        $block = substr($block, 1, length($block) - 1 - ord $block) if $flags & 0x8;   # PADDED
        $block = substr($block, 5) if $flags & 0x20;                                   # PRIORITY
        my $s = $c->{streams}{$sid} ||= { body => '' };
        $s->{status} //= _status($block);
        $s->{ended} = 1 if $flags & 0x1;
    } elsif ($type == $Type{DATA}) {
        my $data = $payload;
        $data = substr($data, 1, length($data) - 1 - ord $data) if $flags & 0x8;
        my $s = $c->{streams}{$sid} ||= { body => '' };
        $s->{body} .= $data;
        $s->{ended} = 1 if $flags & 0x1;
        # give the window back, so that long answers keep coming
        if (length $payload) {
            my $inc = pack('N', length $payload);
            $c->_frame('WINDOW_UPDATE', 0, 0, $inc);
            $c->_frame('WINDOW_UPDATE', 0, $sid, $inc) unless $flags & 0x1;
        }
    }
}

sub _status {
    my $block = shift;
    my $b = ord $block;
    return $StaticStatus{$b & 0x7f} if $b & 0x80;
    # a literal :status (static index 8), with or without indexing; never Huffman-coded
    if (($b == 0x48 || $b == 0x08 || $b == 0x18) && length $block >= 5) {
        my $len = ord substr($block, 1, 1);
        return substr($block, 2, 3) if $len == 3;
    }
    return undef;
}

sub disconnect {
    my $c = shift;
    CORE::close($c->{sock}) if $c->{sock};
    $c->{sock} = undef;
}

1;
