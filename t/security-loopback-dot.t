#!/usr/bin/perl

# Review 2, "plain http only to loopback": the check strips a final dot
# from the host ("127.0.0.1." and "localhost." count as 127.0.0.1 and
# localhost), but nothing connects to the stripped name.  With the dot,
# "127.0.0.1." is no IP literal and "localhost." is not in /etc/hosts for
# glibc: both are names asked of DNS (libcurl: "Could not resolve host:
# 127.0.0.1."), so whoever answers DNS picks where the webhook's secret
# goes in clear text.  The same for a portal's redirect to its own host
# with the dot.  The safe outcome: such a URL is refused, or the call
# reaches the loopback host itself (here the emulator) without asking
# DNS.

use strict;
use warnings;

use Test::More;
use B24T;

for my $host ('127.0.0.1.', 'localhost.') {

    my $t = B24T->new;
    $t->emulator;
    my ($eport) = $t->emu =~ /:(\d+)$/;

    my $conf = <<"EOF";
    b24trigger_portal p http://$host:$eport/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /h {
            b24trigger_pass p;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

    my ($rc, $out) = $t->nginx_test($conf);

    if ($rc != 0) {
        pass("\"$host\": nginx -t refuses plain http to it");
        $t->finish;
        next;
    }

    $t->emu_reset;
    $t->nginx($conf);

    my $r = $t->post('/h?id=1', '');
    my $calls = $t->calls;

    ok(@$calls == 1 && !$t->wait_log(qr/resolve/, 0.5),
       "\"$host\": accepted, the call goes to the loopback host, no DNS")
        or diag("answer $r->{status}; "
                . join(' ', grep { /\[(error|notice)\]/ }
                                 split /\n/, $t->error_log));

    $t->finish;
}

# a portal on 127.0.0.1 redirects to "127.0.0.1." and the same port

my $t = B24T->new;
$t->emulator;
my ($eport) = $t->emu =~ /:(\d+)$/;

my $conf = <<"EOF";
    b24trigger_portal p http://127.0.0.1:$eport/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /h {
            b24trigger_pass p;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

$t->emu_reset;
$t->nginx($conf);
$t->emu_config(faults => [{ mode => 'redirect', location =>
    "http://127.0.0.1.:$eport/rest/1/" . $t->secret
    . '/crm.automation.trigger' }]);

my $r = $t->post('/h?id=2', '');

ok(!$t->wait_log(qr/resolve/, 0.5),
   'a redirect to "127.0.0.1.": DNS is not asked where to send the secret')
    or diag("answer $r->{status}; "
            . join(' ', grep { /\[(error|warn)\]/ } split /\n/,
                   $t->error_log));

$t->finish;
$t->secret_nowhere('no secret in replies or logs');

done_testing;
