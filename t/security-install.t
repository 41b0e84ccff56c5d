#!/usr/bin/perl

# Issue 13, finding 7: the install handler (b24trigger_oauth_install)
# skipped its client_endpoint check when the token server left
# client_endpoint out, and every unauthenticated POST to it made a
# refresh at the token server carrying client_secret.  Now an install call
# is taken only when its AUTH_ID works at the configured portal (a call
# of "profile" with it, which carries no secret of ours) before
# REFRESH_ID is refreshed with client_secret, and the token server must
# name this portal in client_endpoint.

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

$t->nginx(<<"EOF");
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /install { b24trigger_oauth_install app; }
    }
EOF

my $url = 'http://127.0.0.1:' . $t->{port};
my $state = "$dir/oauth/app.json";
my @tokens = ($csecret);

sub install {
    my (%o) = @_;
    my $r = $t->emu_request('POST', '/_emu/oauth/install',
                            { url => "$url/install", %o });
    push @tokens, $r->{access_token}, $r->{refresh_token};
    return $r;
}

sub grants {
    return grep { ($_->{method} || '') eq 'oauth.token' } @{ $t->calls };
}

# 1. anyone may POST to the install location: no refresh for that

for my $i (1 .. 5) {
    my $r = $t->post('/install', 'AUTH_ID=forged' . $i . 'x' x 24
                     . '&REFRESH_ID=forged' . $i . 'y' x 24
                     . '&member_id=member1&DOMAIN=' . $t->emu,
                     'Content-Type' => 'application/x-www-form-urlencoded');
    is($r->{status}, 403, "forged install $i: 403");
}

is(scalar(grants()), 0, 'forged installs: no refresh, no client_secret sent');
ok(!-e $state, 'forged installs: nothing stored');
like($t->error_log,
     qr/\[warn\].*install call for portal "app" refused: AUTH_ID does not work at the portal; nothing stored/,
     'forged installs: said so');

# the portal cannot be asked: refused too, and said so

$t->emu_reset;
$t->emu_config(faults => ['reset', 'reset']);    # libcurl retries once

my $r = install();
is($r->{status}, 403, 'portal not reachable: 403');
is(scalar(grants()), 0, 'portal not reachable: no refresh');
like($t->error_log,
     qr/\[warn\].*refused: the portal could not be asked about AUTH_ID; nothing stored/,
     'portal not reachable: said so');

# 2. a token server that names no portal

$t->emu_reset;
$t->emu_config(client_endpoint => '');

$r = install();
is($r->{status}, 403, 'no client_endpoint: 403');
ok(!-e $state, 'no client_endpoint: nothing stored');
like($t->error_log,
     qr/\[warn\].*install call for portal "app" refused: the token server names no portal or another one in client_endpoint; nothing stored/,
     'no client_endpoint: said so');

# 3. one that names another portal, plainly or behind a user name

for my $other ('https://evil.example.com/rest/',
               'http://' . $t->emu . '@evil.example.com/rest/',
               'http://' . $t->emu . '.evil.example.com/rest/')
{
    $t->emu_reset;
    $t->emu_config(client_endpoint => $other);

    $r = install();
    is($r->{status}, 403, "client_endpoint $other: 403");
    ok(!-e $state, "client_endpoint $other: nothing stored");
}

# 4. the real install

$t->emu_reset;

$r = install();
is($r->{status}, 200, 'install: 200');
ok(-f $state, 'install: stored');
is((stat $state)[2] & 07777, 0600, 'install: the state file is 0600');

my @calls = map { $_->{method} } @{ $t->calls };
is_deeply(\@calls, ['profile', 'oauth.token'],
          'install: AUTH_ID tried at the portal, then REFRESH_ID refreshed');

my $pair = eval { $B24T::JSON->decode($t->slurp($state)) } || {};
push @tokens, grep { defined } $pair->{access_token}, $pair->{refresh_token};

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

done_testing;
