#!/usr/bin/perl

# An OAuth portal: calls carry the access token; an expired one is
# refreshed once, the call repeated, the new pair stored in the state file
# and used by every worker; many webhooks at the moment of expiry cause
# one refresh; after a restart the stored (rotated) refresh token is used
# and the old one is never sent again.  No token nor the client secret in
# any reply or log.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);

my $first = $t->emu_request('POST', '/_emu/oauth/issue', {});
my $domain = $t->emu;
my @tokens = ($csecret, $first->{access_token}, $first->{refresh_token});

sub state_file {
    open my $fh, '<', "$dir/oauth/state.json" or return {};
    local $/;
    return $B24T::JSON->decode(<$fh>);
}

sub write_state {
    my ($pair) = @_;
    open my $fh, '>', "$dir/oauth/state.json" or die $!;
    print $fh $B24T::JSON->encode({
        access_token => $pair->{access_token},
        refresh_token => $pair->{refresh_token},
        expires => $pair->{expires}, member_id => 'member1',
        domain => $domain });
    close $fh;
    chmod 0666, "$dir/oauth/state.json";
}

sub oauth { $t->emu_request('GET', '/_emu/oauth') }

sub grants {
    return grep { ($_->{method} || '') eq 'oauth.token' } @{ $t->calls };
}

write_state($first);

my $conf = <<"EOF";
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location ~ ^/hook/(?<deal>[0-9]+)\$ {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$deal;
            b24trigger_code paid;
        }
    }
EOF

$t->nginx($conf, workers => 2);

# 1. a call with a valid access token

my $r = $t->post('/hook/57', '{}');
is($r->{status}, 200, 'valid token: 200');
is_deeply($r->{json},
          { result => 'forwarded', target => 'DEAL_57', code => 'paid' },
          'valid token: body');

my $calls = $t->calls;
is(scalar @$calls, 1, 'one call');
is($calls->[0]{path}, '/rest/crm.automation.trigger', 'to {portal}/rest/');
is_deeply($calls->[0]{params},
          { target => 'DEAL_57', code => 'paid', auth => '***' },
          'target, code and the token as auth');
is($calls->[0]{status}, 200, 'the portal took the token');

# an expired token: refreshed once, the call repeated

$t->emu_reset;
$t->emu_request('POST', '/_emu/oauth/expire', {});

$r = $t->post('/hook/58', '{}');
is($r->{status}, 200, 'expired token: 200 after a refresh');

$calls = $t->calls;
is_deeply([ map { [$_->{method}, $_->{status}] } @$calls ],
          [ ['crm.automation.trigger', 401], ['oauth.token', 200],
            ['crm.automation.trigger', 200] ],
          'call, refresh, call again');
is($calls->[0]{error}, 'expired_token', 'the portal said expired_token');
is($calls->[1]{grant_type}, 'refresh_token', 'grant_type=refresh_token');
is($calls->[1]{http_method}, 'POST', 'refresh by POST');
is($calls->[1]{params}{client_id}, 'app.test', 'client_id sent');
is(oauth()->{refreshes}, 1, 'one refresh');

my $state = state_file();
isnt($state->{refresh_token}, $first->{refresh_token},
     'state file: the new refresh token');
isnt($state->{access_token}, $first->{access_token},
     'state file: the new access token');
is($state->{member_id}, 'member1', 'state file: member_id kept');
is($state->{domain}, $domain, 'state file: domain');
cmp_ok($state->{expires}, '>', time + 3000, 'state file: expires');
ok(!-e "$dir/oauth/state.json.tmp", 'no temporary file left');
push @tokens, $state->{access_token}, $state->{refresh_token};

# every worker uses the new pair without refreshing again

$t->emu_reset;

my @r = $t->concurrent(map { { path => "/hook/$_", body => '{}' } } 1 .. 20);
is(scalar(grep { $_->{status} == 200 } @r), 20, 'both workers: 20 x 200');
is(oauth()->{refreshes}, 1, 'no second refresh');
is(scalar(grep { $_->{status} != 200 } @{ $t->calls }), 0,
   'no call refused');

# 2. many webhooks at the moment of expiry: exactly one refresh

$t->emu_reset;
$t->emu_config(oauth_latency_ms => 300);
$t->emu_request('POST', '/_emu/oauth/expire', {});

@r = $t->concurrent(map { { path => "/hook/$_", body => '{}' } } 1 .. 30);
is(scalar(grep { $_->{status} == 200 } @r), 30, 'at expiry: 30 x 200');
is(oauth()->{refreshes}, 2, 'at expiry: exactly one refresh');
is(scalar(grants()), 1, 'one call to the token server');

$state = state_file();
push @tokens, $state->{access_token}, $state->{refresh_token};

# 3. after a restart the stored, rotated refresh token is used

$t->quit;
$t->emu_reset;
$t->emu_request('POST', '/_emu/oauth/expire', {});
$t->nginx($conf, workers => 2);

$r = $t->post('/hook/59', '{}');
is($r->{status}, 200, 'after a restart: 200');
is(oauth()->{refreshes}, 3, 'after a restart: refreshed');

my @grants = grants();
is(scalar @grants, 1, 'one refresh after the restart');
is($grants[0]{status}, 200, 'the stored refresh token was accepted');
is(oauth()->{used_refresh_tokens}, 3, 'each refresh token used once');

$state = state_file();
push @tokens, $state->{access_token}, $state->{refresh_token};

# a refresh token the server refuses: 502, and the operator is told

$t->quit;
write_state({ access_token => 'a' x 32, refresh_token => 'b' x 32,
              expires => time - 10 });
$t->emu_reset;
$t->nginx($conf, workers => 2);

$r = $t->post('/hook/60', '{}');
is($r->{status}, 502, 'refused refresh token: 502');
is($r->{json}{error}, 'portal_unreachable', 'refused refresh token: body');
like($t->error_log,
     qr/\[error\].*refused the refresh token of portal "app" \(invalid_grant\); .*install/,
     'refused refresh token: what to do');
is(scalar(grep { ($_->{method} || '') ne 'oauth.token' } @{ $t->calls }), 0,
   'the portal saw nothing');

$r = $t->post('/hook/61', '{}');
is($r->{status}, 502, 'no second attempt with a refused refresh token');
is(scalar(grants()), 1, 'the refused token is not sent again');

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

done_testing;
