#!/usr/bin/perl

# b24trigger_oauth_install: Bitrix24's install call writes the state file
# and every worker uses the pair at once; a forged call (another portal's
# DOMAIN or member_id, a refresh token the token server does not take from
# our client, another client) is refused and writes nothing.

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

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;
    b24trigger_portal other http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/other.json client_id=app.other
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /install       { b24trigger_oauth_install app; }
        location /install-other { b24trigger_oauth_install other; }

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

my $url = 'http://127.0.0.1:' . $t->{port};
my @tokens = ($csecret);

sub install {
    my ($path, %o) = @_;
    my $r = $t->emu_request('POST', '/_emu/oauth/install',
                            { url => "$url$path", %o });
    push @tokens, $r->{access_token}, $r->{refresh_token};
    return $r;
}

my $r = $t->post('/hook?id=1', '');
is($r->{status}, 502, 'not installed: 502');
like($t->error_log, qr/unreachable: the OAuth application is not installed/,
     'not installed: said so');

# forged calls write nothing

$r = install('/install', domain => 'evil.bitrix24.com');
is($r->{status}, 403, 'another DOMAIN: 403');
like($r->{body}, qr/"error":"install_refused"/, 'another DOMAIN: body');

$r = install('/install', fields => { REFRESH_ID => 'f' x 32 });
is($r->{status}, 403, 'a refresh token not ours: 403');

$r = install('/install-other');
is($r->{status}, 403, 'another client: 403');

ok(!-e "$dir/oauth/app.json" && !-e "$dir/oauth/other.json",
   'forged calls wrote nothing');
is(scalar(grep { $_->{status} == 200 } grep { ($_->{method} || '') eq
   'oauth.token' } @{ $t->calls }), 0, 'no pair was taken');

like($t->error_log,
     qr/\[warn\].*install call for portal "app" refused: DOMAIN is another portal; nothing stored/,
     'refusal logged');

# the real install

$t->emu_reset;

$r = install('/install');
is($r->{status}, 200, 'install: 200');
like($r->{body}, qr/BX24\.installFinish\(\)/, 'install: the page finishes it');

ok(-e "$dir/oauth/app.json", 'install: state file written');
my $state = $B24T::JSON->decode($t->slurp("$dir/oauth/app.json"));
is($state->{member_id}, 'member1', 'state file: member_id');
is($state->{domain}, $t->emu, 'state file: domain');
ok($state->{access_token} && $state->{refresh_token}, 'state file: a pair');
isnt($state->{refresh_token}, $r->{refresh_token},
     'the posted refresh token was used up checking it');
push @tokens, $state->{access_token}, $state->{refresh_token};

my @calls = @{ $t->calls };
is(scalar @calls, 2, 'two calls to check it');
is($calls[0]{method}, 'profile', 'AUTH_ID tried at the portal');
is($calls[1]{method}, 'oauth.token', 'then a refresh_token grant');
is($calls[1]{params}{client_id}, 'app.test', 'with our client');

# every worker uses it at once, no reload

$t->emu_reset;
my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '' } } 1 .. 10);
is(scalar(grep { $_->{status} == 200 } @r), 10, 'forwarded at once: 10 x 200');
is($t->emu_request('GET', '/_emu/oauth')->{refreshes}, 1,
   'no refresh needed');

# a later forged install: another member_id

$r = install('/install', member_id => 'member2');
is($r->{status}, 403, 'another member_id: 403');
is($B24T::JSON->decode($t->slurp("$dir/oauth/app.json"))->{refresh_token},
   $state->{refresh_token}, 'state file: the same pair');

$r = $t->request('GET', '/install');
is($r->{status}, 405, 'GET: 405');

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

done_testing;
