#!/usr/bin/perl

# Review: an "if" block inside a relaying location.  nginx gives the block
# a location configuration of its own, merged from the enclosing one, and
# uses it for the rest of the request when the condition is true.  The
# module merges b24trigger_pass's portal, its keys and the trust check
# only where b24trigger_pass is written, so the block's configuration has
# verify and target but no portal and no keys.
#
# The SAFE outcome: nginx -t refuses the location, or every request is
# answered as in the enclosing location (401 for a forged one, forwarded
# for a signed one), and no worker dies.  Sent here: an unsigned request
# and a signed one, each with a header that makes the "if" true.  At the
# production log level the signed one kills the worker (no portal); with
# "error_log ... debug" the unsigned one does already (the handler's
# first debug line reads blcf->portal->name).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(github_signature);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

my $conf = <<"EOF";
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone replays:1m;

    server {
        listen %%LISTEN%%;

        location = /hooks/github {
            b24trigger_pass    crm;
            b24trigger_verify  github;
            b24trigger_secret  $secret;
            b24trigger_replay  replays;
            b24trigger_target  DEAL_57;
            b24trigger_code    pushed;

            if (\$http_x_debug) {
                add_header X-Debug on;
            }
        }
    }
EOF

my ($rc, $out) = $t->nginx_test($conf);

SKIP: {
    skip 'nginx -t refuses b24trigger_pass with an if block', 6 if $rc;

    $t->emulator;
    # the level production runs at: the debug line is not what crashes
    $t->nginx($conf, log_level => "info");

    # under valgrind the worker may not be forked yet when the port answers

    $t->wait_until(sub { scalar(() = $t->worker_pids) }, 30);

    my @workers = $t->worker_pids;
    my $body = '{"ref":"refs/heads/main"}';
    my @json = ('Content-Type' => 'application/json');

    # a stranger: no signature, one header
    my $r = $t->post('/hooks/github', $body, @json, 'X-Debug' => 1);
    is($r->{status}, 401, 'unsigned, "if" true: 401')
        or diag($r->{error} || $r->{body});

    is_deeply([ $t->worker_pids ], \@workers, 'the worker is still there');

    # the sender, with the same header
    $r = $t->post('/hooks/github', $body, @json, 'X-Debug' => 1,
                  'X-Hub-Signature-256' => github_signature($secret, $body));
    is($r->{status}, 200, 'signed, "if" true: 200')
        or diag($r->{error} || $r->{body});

    # and without it, as a baseline
    my $b2 = '{"ref":"refs/heads/other"}';
    $r = $t->post('/hooks/github', $b2, @json,
                  'X-Hub-Signature-256' => github_signature($secret, $b2));
    is($r->{status}, 200, 'signed, "if" false: 200');

    is(scalar @{ $t->calls }, 2, 'the portal got the two signed ones');

    unlike($t->error_log, qr/exited on signal/, 'no worker crashed');
}

$t->finish;

done_testing;
