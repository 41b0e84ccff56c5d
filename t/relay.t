#!/usr/bin/perl

# A token-verified webhook becomes exactly one portal call with the right
# target, code and credentials; a wrong or missing token gets 401 and the
# portal sees nothing.  Methods and the local target check.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(24);

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location ~ ^/hook/(?<deal>[0-9]+)\$ {
            b24trigger_pass main;
            b24trigger_verify token header=X-Webhook-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$deal;
            b24trigger_code c5u4m;
        }

        location /bare {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target LEAD_\$arg_id;
        }
    }
EOF

my $r = $t->post('/hook/57', '{"event":"paid"}',
                 'X-Webhook-Token' => $token,
                 'Content-Type' => 'application/json');

is($r->{status}, 200, 'forwarded: 200');
is($r->{headers}{'content-type'}, 'application/json', 'forwarded: json');
is_deeply($r->{json},
          { result => 'forwarded', target => 'DEAL_57', code => 'c5u4m' },
          'forwarded: body');

my $calls = $t->calls;
is(scalar @$calls, 1, 'exactly one portal call');
is($calls->[0]{method}, 'crm.automation.trigger', 'method');
is($calls->[0]{target}, 'DEAL_57', 'target');
is($calls->[0]{code}, 'c5u4m', 'code');
is($calls->[0]{user}, '1', 'webhook user');
is($calls->[0]{status}, 200, 'portal accepted the credentials');
is($calls->[0]{http_method}, 'POST', 'POST');
like($calls->[0]{content_type}, qr{^application/json}, 'JSON body');
is_deeply($calls->[0]{params}, { target => 'DEAL_57', code => 'c5u4m' },
          'only target and code are sent');

$t->emu_reset;

$r = $t->post('/hook/58', '{}', 'X-Webhook-Token' => $token . 'x');
is($r->{status}, 401, 'wrong token: 401');
is_deeply($r->{json}, { error => 'token_invalid' }, 'wrong token: body');

$r = $t->post('/hook/58', '{}');
is($r->{status}, 401, 'no token: 401');
is_deeply($r->{json}, { error => 'signature_missing' }, 'no token: body');

$r = $t->post('/hook/58', '{}', 'X-Webhook-Token' => '');
is($r->{status}, 401, 'empty token: 401');

is(scalar @{ $t->calls }, 0, 'the portal saw nothing');

like($t->error_log,
     qr/\[info\].*webhook rejected in location "[^"]+": token_invalid/,
     'rejection logged at info');

# a code is optional, as in Bitrix24

$r = $t->post('/bare?id=9', '');
is($r->{status}, 200, 'no code: forwarded');
is_deeply($t->calls->[0]{params}, { target => 'LEAD_9' }, 'no code sent');

# methods and targets

$r = $t->request('GET', '/hook/57', headers => ['X-Webhook-Token', $token]);
is($r->{status}, 405, 'GET: 405');
is_deeply($r->{json}, { error => 'method_not_allowed' }, 'GET: body');

$t->emu_reset;

for my $bad ('0', '', '007', '1234567890123456789', '5x', '-1', '5%20') {
    $r = $t->post("/bare?id=$bad", '');
    is($r->{status}, 422, "target LEAD_$bad: 422");
    is($r->{json}{error}, 'target_invalid', "target LEAD_$bad: body");
}

$r = $t->post('/bare?id=5%0a', '');
is($r->{status}, 422, 'target with a trailing newline: 422');

is(scalar @{ $t->calls }, 0, 'invalid targets never reach the portal');

$r = $t->post('/bare?id=123456789012345678', '');
is($r->{status}, 200, 'an 18-digit id is fine');

$t->finish;
$t->secret_nowhere;

done_testing;
