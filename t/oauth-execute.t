#!/usr/bin/perl

# "b24trigger_method execute": an OAuth portal's own triggers through
# crm.automation.trigger.execute with CODE, OWNER_TYPE_ID and OWNER_ID
# from b24trigger_target; the portal's errors answered as in the webhook
# mode, in sync and queue delivery; nginx -t refuses it without an OAuth
# portal or a code.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $spool = "$dir/spool";
my $csecret = B24T::random_secret(32);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

$t->emulator(args => ['--oauth-app', "app.test:$csecret", '--bucket', 0,
                      '--deny', 'DEAL_13']);

my $pair = $t->emu_request('POST', '/_emu/oauth/issue', {});
my @tokens = ($csecret, $pair->{access_token}, $pair->{refresh_token});

open my $fh, '>', "$dir/oauth/state.json" or die $!;
print $fh $B24T::JSON->encode({ %$pair, domain => $t->emu });
close $fh;
chmod 0666, "$dir/oauth/state.json";

# the application registers its trigger (reference §2.6)

my ($host, $port) = split /:/, $t->emu;
my $add = B24T::http_request($host, $port, 'POST',
    '/rest/crm.automation.trigger.add',
    body => "auth=$pair->{access_token}&CODE=paid&NAME=Paid",
    headers => ['Content-Type', 'application/x-www-form-urlencoded']);
is($add->{status}, 200, 'crm.automation.trigger.add');

my $portal = <<"EOF";
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;
EOF

my $conf = $portal . <<"EOF";
    b24trigger_queue $spool backoff=200ms backoff_max=500ms;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target \$arg_target;
        b24trigger_method execute;

        location /paid { b24trigger_pass app; b24trigger_code paid; }
        location /nope { b24trigger_pass app; b24trigger_code nope; }
        location /queued {
            b24trigger_pass app;
            b24trigger_code \$arg_code;
            b24trigger_delivery queue;
        }
        location /trigger {
            b24trigger_pass app;
            b24trigger_code paid;
            b24trigger_method trigger;
        }
    }
EOF

$t->nginx($conf);

my $r = $t->post('/paid?target=DEAL_57', '');
is($r->{status}, 200, 'execute: 200');
is_deeply($r->{json},
          { result => 'forwarded', target => 'DEAL_57', code => 'paid' },
          'execute: body');

my $calls = $t->calls;
my @exec = grep { $_->{method} eq 'crm.automation.trigger.execute' } @$calls;
is(scalar @exec, 1, 'one crm.automation.trigger.execute');
is($exec[0]{path}, '/rest/crm.automation.trigger.execute', 'path');
is_deeply($exec[0]{params},
          { CODE => 'paid', OWNER_TYPE_ID => 2, OWNER_ID => 57,
            auth => '***' },
          'CODE, OWNER_TYPE_ID, OWNER_ID and the token');
is($exec[0]{status}, 200, 'the portal ran it');

for (['LEAD_5', 1], ['contact_6', 3], ['CO_7', 4], ['SMART_INVOICE_8', 31],
     ['DYNAMIC_130_9', 130], ['T82_10', 130])
{
    my ($target, $type) = @$_;
    $t->emu_reset;
    $r = $t->post("/paid?target=$target", '');
    is($r->{status}, 200, "$target: 200");
    is($t->calls->[0]{params}{OWNER_TYPE_ID}, $type,
       "$target: OWNER_TYPE_ID $type");
}

# errors map as in the webhook mode

$t->emu_reset;

$r = $t->post('/nope?target=DEAL_57', '');
is($r->{status}, 502, 'unregistered code: 502');
is_deeply($r->{json},
          { error => 'portal_error', portal_error => '',
            portal_error_description =>
                'Trigger with code nope is not registered.' },
          'unregistered code: the portal\'s words');

$r = $t->post('/paid?target=DEAL_13', '');
is($r->{status}, 502, 'denied owner: 502');
is($r->{json}{portal_error}, 'ACCESS_DENIED', 'denied owner: ACCESS_DENIED');

$r = $t->post('/paid?target=FOO_7', '');
is($r->{status}, 502, 'unknown type: 502');
is($r->{json}{portal_error_description},
   'Incorrect parameter OWNER_TYPE_ID.', 'unknown type: the portal says so');

like($t->error_log,
     qr/\[error\].*portal "app" refused target "DEAL_57" code "nope" from location "\/nope": 400 \(no error code\) "Trigger with code nope is not registered\." \(attempt 1\); register the code with crm\.automation\.trigger\.add/,
     'error log as in the webhook mode');

$t->emu_config(mode => 'query_limit');
$r = $t->post('/paid?target=DEAL_1', '');
is($r->{status}, 503, 'rate limited: 503');
is($r->{json}{error}, 'portal_rate_limited', 'rate limited: body');
$t->emu_config(mode => 'none');

# an expired token: refreshed, execute repeated

$t->emu_reset;
$t->emu_request('POST', '/_emu/oauth/expire', {});

$r = $t->post('/paid?target=DEAL_58', '');
is($r->{status}, 200, 'expired token: 200');
is_deeply([ map { [$_->{method}, $_->{status}] } @{ $t->calls } ],
          [ ['crm.automation.trigger.execute', 401], ['oauth.token', 200],
            ['crm.automation.trigger.execute', 200] ],
          'execute, refresh, execute again');

# b24trigger_method trigger on the same portal

$t->emu_reset;
$r = $t->post('/trigger?target=DEAL_59', '');
is($r->{status}, 200, 'trigger with a token: 200');
is($t->calls->[0]{method}, 'crm.automation.trigger', 'trigger method');

# queued: delivered with execute; a permanent error is a dead letter

$t->emu_reset;

$r = $t->post('/queued?target=DEAL_60&code=paid', '');
is($r->{status}, 202, 'queued: 202');
ok($t->wait_until(sub { grep { $_->{status} == 200 } @{ $t->calls } }, 10),
   'queued: delivered');
is($t->calls->[0]{method}, 'crm.automation.trigger.execute',
   'queued: with execute');
is($t->calls->[0]{params}{OWNER_ID}, 60, 'queued: OWNER_ID');

$r = $t->post('/queued?target=DEAL_61&code=nope', '');
my $id = $r->{json}{id};
ok($t->wait_until(sub { -f "$spool/dead/$id.json" }, 10),
   'queued, unregistered code: a dead letter');
like($t->slurp("$spool/dead/$id.json"), qr/"method":\s*"execute"/,
     'the dead letter says execute');

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

# nginx -t

my $t2 = B24T->new;

my ($rc, $out) = $t2->nginx_test(
    'b24trigger_portal hook https://portal.example.com/rest/1/abcdefgh/;'
    . ' server { listen %%LISTEN%%; location /h { b24trigger_pass hook;'
    . ' b24trigger_verify none; b24trigger_target DEAL_1;'
    . ' b24trigger_code paid; b24trigger_method execute; } }');
isnt($rc, 0, 'execute with a webhook portal: nginx -t fails');
like($out, qr/"b24trigger_method execute" in location "\/h" needs an OAuth portal: a webhook has no application context/,
     'execute with a webhook portal: message');

($rc, $out) = $t2->nginx_test(
    "b24trigger_portal app https://portal.example.com/rest/"
    . " oauth=$dir/none.json client_id=a client_secret=$csecret;"
    . ' server { listen %%LISTEN%%; location /h { b24trigger_pass app;'
    . ' b24trigger_verify none; b24trigger_target DEAL_1;'
    . ' b24trigger_method execute; } }');
isnt($rc, 0, 'execute without a code: nginx -t fails');
like($out, qr/"b24trigger_method execute" in location "\/h" needs "b24trigger_code", the CODE the application registered/,
     'execute without a code: message');

($rc, $out) = $t2->nginx_test(
    'b24trigger_portal hook https://portal.example.com/rest/1/abcdefgh/;'
    . ' server { listen %%LISTEN%%; location /h { b24trigger_pass hook;'
    . ' b24trigger_verify none; b24trigger_target DEAL_1;'
    . ' b24trigger_method run; } }');
isnt($rc, 0, 'an unknown method: nginx -t fails');

done_testing;
