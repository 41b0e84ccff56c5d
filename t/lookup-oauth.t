#!/usr/bin/perl

# b24trigger_lookup on a portal reached through an OAuth application: the
# lookup goes to {portal}/rest/crm.item.list with the access token as
# "auth" in its JSON, as the trigger does; an expired token is refreshed
# once and the lookup repeated; no token in any log.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);

my $first = $t->emu_request('POST', '/_emu/oauth/issue', {});

open my $fh, '>', "$dir/oauth/state.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $first->{access_token},
    refresh_token => $first->{refresh_token},
    expires => $first->{expires}, member_id => 'member1',
    domain => $t->emu });
close $fh;
chmod 0666, "$dir/oauth/state.json";

sub crm {
    $t->emu_crm(items => [
        { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
        { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '1002' },
    ]);
}

crm();

$t->nginx(<<"EOF");
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;
    b24trigger_lookup_zone orders:1m;

    server {
        listen %%LISTEN%%;

        location = /hook {
            b24trigger_pass   app;
            b24trigger_verify none;
            b24trigger_lookup deal UF_CRM_ORDER_ID \$arg_order zone=orders;
            b24trigger_code   paid;
        }
    }
EOF

my $r = $t->post('/hook?order=1001', '{}');
is($r->{status}, 200, 'OAuth: 200') or diag($r->{body});
is($r->{json}{target}, 'DEAL_57', 'OAuth: DEAL_57');

my $calls = $t->calls;
is($calls->[0]{path}, '/rest/crm.item.list', 'to {portal}/rest/crm.item.list');
is_deeply($calls->[0]{params},
          { entityTypeId => 2, filter => { '=UF_CRM_ORDER_ID' => '1001' },
            select => ['id'], useOriginalUfNames => 'Y', auth => '***' },
          'the filter, and the token as auth');
is($calls->[0]{status}, 200, 'the portal took the token');
is($calls->[1]{method}, 'crm.automation.trigger', 'then the trigger');

# an expired token: refreshed once, the lookup repeated

$t->emu_reset;
crm();
$t->emu_request('POST', '/_emu/oauth/expire', {});

$r = $t->post('/hook?order=1002', '{}');
is($r->{json}{target}, 'DEAL_58', 'expired token: DEAL_58 after a refresh');
is_deeply([ map { [$_->{method}, $_->{status}] } @{ $t->calls } ],
          [ ['crm.item.list', 401], ['oauth.token', 200],
            ['crm.item.list', 200], ['crm.automation.trigger', 200] ],
          'lookup, refresh, lookup again, trigger');

my $state = $B24T::JSON->decode($t->slurp("$dir/oauth/state.json"));

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no token or client secret anywhere', $csecret,
               $first->{access_token}, $first->{refresh_token},
               $state->{access_token}, $state->{refresh_token});

done_testing;
