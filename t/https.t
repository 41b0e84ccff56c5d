#!/usr/bin/perl

# HTTPS to the portal: verified against b24trigger_ssl_trusted_certificate;
# with another CA, or the system store, the call fails (502) and the
# portal records nothing.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(https => 1);

my $conf = <<'EOF';
    b24trigger_ssl_trusted_certificate %%CERTS%%/CAFILE;
    b24trigger_portal main https://%%EMU_HTTPS%%/rest/1/%%SECRET%%/;
    b24trigger_portal byname https://localhost:EMUPORT/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;
        b24trigger_code tls;

        location /hook { b24trigger_pass main; }
        location /name { b24trigger_pass byname; }
    }
EOF

my ($port) = $t->{emu_https} =~ /:(\d+)$/;
$conf =~ s/EMUPORT/$port/;

(my $good = $conf) =~ s/CAFILE/ca.crt/;
(my $other = $conf) =~ s/CAFILE/other-ca.crt/;
(my $system = $conf) =~ s/^ *b24trigger_ssl_trusted_certificate[^\n]*\n//m;
(my $missing = $conf) =~ s/CAFILE/no-such-ca.crt/;

# the CA file is read when the configuration is loaded

my ($rc, $out) = $t->nginx_test($missing);
isnt($rc, 0, 'a missing CA file: nginx -t fails');
like($out, qr/\[emerg\].*no-such-ca\.crt/, 'a missing CA file: named');

$t->nginx($good);

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 200, 'https with the test CA: forwarded');

$r = $t->post('/name?id=2', '');
is($r->{status}, 200, 'https by host name: forwarded');

my @calls = @{ $t->calls };
is(scalar @calls, 2, 'two calls');
is($calls[0]{listener}, 'https', 'over TLS');
is($calls[0]{target}, 'DEAL_1', 'target');

$t->emu_reset;
is(scalar(grep { $t->post("/hook?id=$_", '')->{status} == 200 } 3 .. 5), 3,
   'three more calls over the kept-alive connection');
my %ports = map { $_->{client_port} => 1 } @{ $t->calls };
is(scalar keys %ports, 1, 'one TLS connection for the three');

# a new connection resumes the TLS session of the last one

$t->emu_reset;
$t->emu_config(faults => ['close_delimited']);
is($t->post('/hook?id=6', '')->{status}, 200, 'an answer that closes');
is($t->post('/hook?id=7', '')->{status}, 200, 'then a new connection');
my @c = @{ $t->calls };
is(scalar @c, 2, 'two calls');
ok($c[1]{tls_resumed}, 'the new connection resumed the TLS session');

# what OpenSSL read past an answer (more bytes, a close_notify with TCP
# left open) never wakes nginx: the connection must not be kept

for my $f ('trailing_garbage', 'close_notify') {
    $t->emu_reset;
    $t->emu_config(faults => [$f]);
    is($t->post('/hook?id=8', '')->{status}, 200, "$f over TLS: forwarded");
    select undef, undef, undef, 0.3;
    my $r = $t->post('/hook?id=9', '');
    is($r->{status}, 200, "$f over TLS: the next call forwarded");
    is($r->{json}{target}, 'DEAL_9', "$f over TLS: with its own answer");
    my %p = map { $_->{client_port} => 1 } @{ $t->calls };
    is(scalar keys %p, 2, "$f over TLS: on a new connection");
}

$t->emu_reset;
$t->reload($other);

$r = $t->post('/hook?id=6', '');
is($r->{status}, 502, 'another CA: 502');
is_deeply($r->{json}, { error => 'portal_unreachable' }, 'another CA: body');
like($t->error_log, qr/\[error\].*portal "main" at "https:[^"]*\*\*\*\/" unreachable: .*(certificate|SSL)/i,
     'another CA: the reason is logged');

$t->reload($system);

$r = $t->post('/hook?id=7', '');
is($r->{status}, 502, 'the system store does not know the test CA: 502');

is(scalar @{ $t->calls }, 0, 'nothing recorded by the portal');

$t->finish;
$t->secret_nowhere;

done_testing;
