#!/usr/bin/perl

# The attack of issue 13, finding 8: a token server that hands out access
# tokens living less than the refresh margin (30 s against 60 s) made the
# module refresh in a loop, about 200 refreshes in 15 s, each carrying
# client_secret.  Refreshes happen at most once per token lifetime: a
# short lifetime shortens the margin (min(60 s, lifetime / 2)), a call that
# waited for a refresh takes the new pair whatever its expiry says, and
# nothing refreshes without calls.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use B24T;

sub run_case {
    my ($name, $ttl, $watch, $max) = @_;

    my $t = B24T->new;
    my $dir = $t->dir;
    my $csecret = B24T::random_secret(32);

    chmod 0711, $dir;
    mkdir "$dir/oauth";
    chmod 0777, "$dir/oauth";

    $t->emulator(args => ['--oauth-app', "app.test:$csecret",
                          '--member-id', 'member1', '--token-ttl', $ttl]);

    my $pair = $t->emu_request('POST', '/_emu/oauth/issue', {});

    open my $fh, '>', "$dir/oauth/state.json" or die $!;
    print $fh $B24T::JSON->encode({
        access_token => $pair->{access_token},
        refresh_token => $pair->{refresh_token},
        expires => $pair->{expires}, member_id => 'member1',
        domain => $t->emu });
    close $fh;
    chmod 0600, "$dir/oauth/state.json";

    $t->nginx(<<"EOF", workers => 2);
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=$dir/oauth/state.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

    my $oauth = sub { $t->emu_request('GET', '/_emu/oauth') };

    # webhooks all along, 4 a second

    my ($sent, $ok) = (0, 0);
    my $until = time + $watch;

    while (time < $until) {
        my $r = $t->post('/hook?id=' . ++$sent, '');
        $ok++ if ($r->{status} || 0) == 200;
        sleep 0.25;
    }

    my $refreshes = $oauth->()->{refreshes};

    cmp_ok($refreshes, '<=', $max,
           "$name: $refreshes refreshes in $watch s, at most $max");
    is($ok, $sent, "$name: all $sent webhooks forwarded");

    # no calls, no refreshes

    sleep 3;
    is($oauth->()->{refreshes}, $refreshes, "$name: none without calls");

    my $state = eval { $B24T::JSON->decode($t->slurp("$dir/oauth/state.json")) }
                || {};

    $t->finish;
    $t->secret_nowhere("$name: no token or client secret in replies or logs",
                       $csecret, $pair->{access_token},
                       $pair->{refresh_token},
                       grep { defined } $state->{access_token},
                       $state->{refresh_token});
}

# 30 s tokens against the 60 s margin: refreshed at half their life

run_case('30 s tokens', 30, 15, 2);

# 4 s tokens: refreshed every 2 s or so (whole seconds), never a loop

run_case('4 s tokens', 4, 8, 6);

done_testing;
