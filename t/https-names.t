#!/usr/bin/perl

# TLS to the portal checks the host of the URL against the certificate,
# as libcurl does: the test certificate names 127.0.0.1 and localhost, so
# a portal reached as 127.0.0.2 is refused before anything is sent.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(https => 1, https_host => '127.0.0.2');

my ($port) = $t->{emu_https} =~ /:(\d+)$/;

$t->nginx(<<"EOF");
    b24trigger_ssl_trusted_certificate %%CERTS%%/ca.crt;
    b24trigger_portal other https://127.0.0.2:$port/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_code tls;

        location /other { b24trigger_pass other; }
    }
EOF

my $r = $t->post('/other?id=1', '');
is($r->{status}, 502, 'an address the certificate does not name: 502');
is_deeply($r->{json}, { error => 'portal_unreachable' },
          'an address the certificate does not name: body');
like($t->error_log,
     qr/\[error\].*portal "other" at "https:\/\/127\.0\.0\.2:$port\/rest\/1\/\*\*\*\/" unreachable: SSL: no alternative certificate subject name matches target host name '127\.0\.0\.2'/,
     'the reason is logged');
is(scalar @{ $t->calls }, 0, 'nothing reached the portal');

$t->finish;
$t->secret_nowhere;

done_testing;
