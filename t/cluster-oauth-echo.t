#!/usr/bin/perl

# A "Redis" that is not (a rogue server on the cluster's address, or one
# in the middle: the link has no TLS) answers the OAuth scripts with an
# error that quotes what it was sent, the token pair among it, with a
# line break and a forged log line in it.  The node says Redis refused,
# but neither a token nor the forged line reaches its error log; its
# calls go on with its own pair.  An answer without a token is shown
# escaped, as values from outside are (doc/error-log.md).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use B24T;

my $t = B24T->new;
my $csecret = B24T::random_secret(32);

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);

my $p0 = $t->emu_request('POST', '/_emu/oauth/issue', { expires_in => 30 });
my @tokens = ($csecret, $p0->{access_token}, $p0->{refresh_token});

# the liar: PING, SELECT and the rest answered as Redis would; an EVAL
# on an OAuth key answered with an error quoting its arguments

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
            my $n = $1;
            read($c, my $v, $n + 2);
            push @a, substr($v, 0, $n);
        }
        my $cmd = uc($a[0] || '');
        if ($cmd eq 'PING') {
            print $c "+PONG\r\n";
        } elsif ($cmd eq 'EVAL' && ($a[3] || '') =~ /oauth/) {
            # ARGV[4] and ARGV[5]: the access and the refresh token;
            # with the pair of the start, a forged line only
            my $echo = join ' ', grep { defined } @a[8, 9];
            $echo =~ s/[\r\n]//g;
            $echo = 'x' if ($a[8] || '') eq $p0->{access_token};
            print $c "-ERR $echo\n2026/01/01 00:00:00 [error] 1#1: forged"
                . " \"quoted\"\r\n";
        } elsif ($cmd eq 'EVAL' || $cmd eq 'EVALSHA') {
            print $c "-ERR no scripts here\r\n";
        } else {
            print $c "+OK\r\n";
        }
    }
}

$t->{redis_port} = $port;

my $conf = <<"EOF";
    b24trigger_cluster redis://%%REDIS%% prefix=b: timeout=1s;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/ timeout=2s
        bucket=node;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

my $d = $t->dir;
chmod 0711, $d;
mkdir "$d/oauth";
chmod 0777, "$d/oauth";
open my $fh, '>', "$d/oauth/app.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $p0->{access_token},
    refresh_token => $p0->{refresh_token},
    expires => $p0->{expires}, member_id => 'member1',
    domain => $t->emu });
close $fh;
chmod 0600, "$d/oauth/app.json";
$t->nginx($conf);

my $link = "redis://127.0.0.1:$port";

ok($t->wait_until(sub {
       my $s = $t->request('GET', '/status')->{json} || {};
       ($s->{cluster_up} || {})->{$link} }, 15),
   'linked to the liar');

# at expiry: the claim is answered with the echo; the node goes on alone

$t->emu_request('POST', '/_emu/oauth/expire', {});

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 200, 'the node refreshed on its own and forwarded');

my $s = eval { $B24T::JSON->decode($t->slurp("$d/oauth/app.json")) } || {};
push @tokens, grep { defined } $s->{access_token}, $s->{refresh_token};

# again, with the pair refreshed at run time (one the configuration did
# not know, so the log's redaction of configured secrets does not hide
# it)

sleep 1.1;
$t->emu_request('POST', '/_emu/oauth/expire', {});
$r = $t->post('/hook?id=2', '');
is($r->{status}, 200, 'refreshed again, on its own, and forwarded');

$s = eval { $B24T::JSON->decode($t->slurp("$d/oauth/app.json")) } || {};
push @tokens, grep { defined } $s->{access_token}, $s->{refresh_token};

like($t->error_log, qr/\[error\] .*redis refused the token pair of portal "app" \("ERR x\\x0A2026\/01\/01 00:00:00 \[error\] 1#1: forged \\x22quoted\\x22"\), this node's pair used/,
     'the node said Redis refused, its answer escaped: no forged line');
like($t->error_log, qr/\[error\] .*redis refused the token pair of portal "app" \("an answer quoting a token, not shown"\), this node's pair used/,
     'an answer quoting a token sent is not shown');
unlike($t->error_log, qr/^2026\/01\/01/m, 'no line forged by Redis');

$t->finish;
kill 'TERM', $liar;
waitpid($liar, 0);

$t->secret_nowhere('no token or client secret in the error log', @tokens);

done_testing;
