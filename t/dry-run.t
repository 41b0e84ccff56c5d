#!/usr/bin/perl

# b24trigger_dry_run: verification, mapping and the target check as ever,
# the call logged at warn and not made, the sender answered as if it had
# been forwarded; $b24trigger_result is "dry_run".

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field $deal  deal.id;
    b24trigger_field $code  "trigger";

    log_format dry "result=$b24trigger_result target=$b24trigger_target";

    server {
        listen %%LISTEN%%;

        access_log %%TESTDIR%%/logs/dry.log dry;

        location /h {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret s3cret;
            b24trigger_target DEAL_$deal;
            b24trigger_code $code;
            b24trigger_dry_run on;

            location /h/live {
                b24trigger_pass main;
                b24trigger_dry_run off;
            }
        }
    }
EOF

my @json = ('Content-Type' => 'application/json', 'X-Token' => 's3cret');

my $r = $t->post('/h', '{"deal":{"id":57},"trigger":"c5\nu4m"}', @json);
is($r->{status}, 200, 'dry run: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => "c5\nu4m" }, 'dry run: as if forwarded');
is(scalar @{ $t->calls }, 0, 'the portal received nothing');

like($t->error_log,
     qr/\[warn\].*b24trigger: dry run, not sent to portal "main": target "DEAL_57" code "c5\\x0Au4m" from location "\/h"/,
     'the call that would be made, logged at warn, escaped');

$r = $t->post('/h', '{"deal":{"id":57}}', 'X-Token' => 'wrong');
is($r->{status}, 401, 'dry run still verifies');

$r = $t->post('/h', '{"deal":{"id":"x"}}', @json);
is($r->{status}, 422, 'dry run still checks the target');

$r = $t->post('/h', '{"deal":', @json);
is($r->{status}, 400, 'dry run still needs a valid body');

is(scalar @{ $t->calls }, 0, 'still nothing at the portal');

$r = $t->post('/h/live', '{"deal":{"id":58},"trigger":"x"}', @json);
is($r->{json}{result}, 'forwarded', 'dry_run off in a nested location');
is($t->calls->[0]{target}, 'DEAL_58', 'that one reached the portal');

$t->stop;

my $log = $t->slurp($t->dir . '/logs/dry.log');
like($log, qr/^result=dry_run target=DEAL_57$/m,
     '$b24trigger_result: dry_run');
like($log, qr/^result=forwarded target=DEAL_58$/m,
     '$b24trigger_result: forwarded, live');

$t->finish;
$t->secret_nowhere;

done_testing;
