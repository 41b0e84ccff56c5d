#!/usr/bin/perl

# A "Redis" that is not (a rogue server on the cluster's address, or one
# in the middle: the link has no TLS) answers the portal's bucket script
# with an error holding a line break, a forged log line and quotes.  The
# node says Redis refused the bucket, with the answer escaped: no line is
# forged in its error log; the webhook is forwarded on the node's bucket.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);

my $port = $t->held_port;
my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                Listen => 16, ReuseAddr => 1)
    or die "listen: $!";

my $liar = fork();
die "fork: $!" unless defined $liar;

if ($liar == 0) {
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $srv->accept) {
        next if fork();
        serve($c);
        exit 0;
    }
    exit 0;
}

close $srv;

sub serve {
    my ($c) = @_;
    binmode $c;
    while (defined(my $line = <$c>)) {
        next unless $line =~ /^\*(\d+)/;
        my @a;
        for (1 .. $1) {
            my $l = <$c>;
            last unless defined $l && $l =~ /^\$(\d+)/;
            read($c, my $v, $1 + 2);
            push @a, substr($v, 0, length($v) - 2);
        }
        my $cmd = uc($a[0] || '');
        if ($cmd eq 'PING') {
            print $c "+PONG\r\n";
        } elsif ($cmd eq 'EVAL' || $cmd eq 'EVALSHA') {
            print $c "-ERR no\n2026/01/01 00:00:00 [error] 1#1: forged"
                . " \"quoted\"\r\n";
        } else {
            print $c "+OK\r\n";
        }
    }
}

$t->{redis_port} = $port;

$t->nginx(<<'EOF2');
    b24trigger_cluster redis://%%REDIS%% prefix=b: timeout=1s;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF2

ok($t->wait_until(sub {
       my $s = $t->request('GET', '/status')->{json} || {};
       ($s->{cluster_up} || {})->{"redis://127.0.0.1:$port"} }, 15),
   'linked to the liar');

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 200, "forwarded on the node's bucket");
is(scalar(@{ $t->calls }), 1, 'the portal got the call');

like($t->error_log, qr/\[error\] .*redis refused the bucket of portal "main" \("ERR no\\x0A2026\/01\/01 00:00:00 \[error\] 1#1: forged \\x22quoted\\x22"\), this node's bucket used/,
     'Redis refused, its answer escaped');
unlike($t->error_log, qr/^2026\/01\/01/m, 'no line forged by Redis');

$t->finish;
kill 'TERM', $liar;
waitpid($liar, 0);

done_testing;
