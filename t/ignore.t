#!/usr/bin/perl

# b24trigger_ignore: proxy_no_cache semantics over any variable, a body
# field through map above all.  Ignored webhooks get 200
# {"result":"ignored"}, reach no portal and skip the target check; only
# verified webhooks get that far; a field of an invalid body is a 400.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(20);

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field \$event   type;
    b24trigger_field \$pay_status  data.payment_status;
    b24trigger_field \$deal    data.deal_id;

    map \$event \$not_paid {
        checkout.session.completed  0;
        default                     1;
    }

    map \$pay_status \$pay_skip {
        succeeded  "";
        default    skip;
    }

    log_format result "result=\$b24trigger_result event=\$event";

    server {
        listen %%LISTEN%%;

        access_log %%TESTDIR%%/logs/result.log result;

        b24trigger_ignore \$pay_skip;

        location /stripe {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_ignore \$not_paid;
            b24trigger_target DEAL_\$deal;
        }

        # several values: any non-empty, not "0" one ignores
        location /any {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_ignore \$arg_a \$arg_b;
            b24trigger_target DEAL_1;
        }

        # inherited from the server level
        location /status {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$deal;
        }
    }
EOF

my $json = 'application/json';
my $paid = '{"type":"checkout.session.completed",'
         . '"data":{"deal_id":"57","payment_status":"succeeded"}}';
my $other = '{"type":"customer.created","data":{}}';

my $r = $t->post('/stripe', $other, 'X-Token' => $token,
                 'Content-Type' => $json);
is($r->{status}, 200, 'another event: 200');
is($r->{headers}{'content-type'}, 'application/json', 'another event: json');
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');
is(scalar @{ $t->calls }, 0, 'nothing reached the portal');
like($t->error_log, qr/b24trigger ignored/, 'debug line');

$r = $t->post('/stripe', $paid, 'X-Token' => $token, 'Content-Type' => $json);
is($r->{status}, 200, 'the paid event');
is($r->{json}{result}, 'forwarded', 'the paid event is forwarded');
is($t->calls->[0]{target}, 'DEAL_57', 'with its deal');

$r = $t->post('/stripe', $other, 'X-Token' => 'wrong',
              'Content-Type' => $json);
is($r->{status}, 401, 'ignore comes after verification');

$r = $t->post('/stripe', '{"type":', 'X-Token' => $token,
              'Content-Type' => $json);
is($r->{status}, 400, 'ignore needs a field of an invalid body: 400');
is($r->{json}{error}, 'body_invalid', '... body_invalid');

$r = $t->post('/stripe', 'type=x', 'X-Token' => $token,
              'Content-Type' => 'text/plain');
is($r->{status}, 415, 'ignore needs a field of an unsupported type: 415');

# an ignored webhook skips the target check: no deal_id here

$r = $t->post('/stripe', '{"type":"invoice.paid"}', 'X-Token' => $token,
              'Content-Type' => $json);
is_deeply($r->{json}, { result => 'ignored' },
          'no target check when ignored');

is(scalar @{ $t->calls }, 1, 'still one call in all');

# values as proxy_no_cache takes them

for my $case (['', 'forwarded'], ['?a=0', 'forwarded'],
              ['?a=0&b=', 'forwarded'], ['?a=1', 'ignored'],
              ['?b=yes', 'ignored'], ['?a=0&b=0', 'forwarded'],
              ['?a=00', 'ignored'])
{
    my ($q, $want) = @$case;
    $r = $t->post("/any$q", '');
    is($r->{json}{result}, $want, "/any$q: $want");
}

# inherited, with an empty value meaning "do not ignore"

$t->emu_reset;

$r = $t->post('/status', '{"data":{"deal_id":"9","payment_status":"pending"}}',
              'Content-Type' => $json);
is_deeply($r->{json}, { result => 'ignored' }, 'inherited: pending ignored');

$r = $t->post('/status', '{"data":{"deal_id":"9",'
                         . '"payment_status":"succeeded"}}',
              'Content-Type' => $json);
is($r->{json}{result}, 'forwarded', 'inherited: succeeded forwarded');
is(scalar @{ $t->calls }, 1, 'one call');

$t->stop;

my $log = $t->slurp($t->dir . '/logs/result.log');
like($log, qr/^result=ignored event=customer\.created$/m,
     '$b24trigger_result is "ignored" in the access log');
like($log, qr/^result=forwarded event=checkout\.session\.completed$/m,
     'and "forwarded" for the paid one');

$t->finish;
$t->secret_nowhere;

done_testing;
