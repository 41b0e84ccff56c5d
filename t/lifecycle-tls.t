#!/usr/bin/perl

# A call stuck in its TLS handshake (the portal took the connection and
# never answered the ClientHello) does not hold an exiting worker until
# connect_timeout: worker_shutdown_timeout ends it, with no alert.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use B24T;

my $t = B24T->new;

# a TCP listener that never speaks: the kernel completes the connection

my $mute = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1:0',
                                 ReuseAddr => 1)
    or die "listen: $!";
my $port = $mute->sockport;

$t->nginx(<<"EOF", main => 'worker_shutdown_timeout 1s;');
    b24trigger_portal mute https://127.0.0.1:$port/rest/1/%%SECRET%%/
                      connect_timeout=30s timeout=60s;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_1;
        b24trigger_code tls;

        location /hook { b24trigger_pass mute; }
    }
EOF

# the webhook, left waiting

my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$t->{port}")
    or die "connect: $!";
print $c "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";

ok($t->wait_log(qr/b24trigger http start/, 10), 'the call has started');
select undef, undef, undef, 0.5;

my $took = $t->quit(20);
cmp_ok($took, '>', 0, 'nginx exited by itself');
cmp_ok($took, '<', 10, 'within worker_shutdown_timeout, not connect_timeout')
    or diag("took $took s");

# nginx's shutdown timer ends the connections in their slot order: either
# the portal's connection first (the call fails, "worker is shutting
# down") or the sender's (its request ends and cancels the call)

like($t->error_log, qr/worker is shutting down|b24trigger http cancel/,
     'the call ended with the worker');

close $c;

$t->finish;
$t->secret_nowhere;

done_testing;
