#!/usr/bin/perl

# When the token server cannot be reached, a call that needs a refresh is
# answered 502 portal_unreachable in sync mode and retried in queue mode,
# and delivered once the server is back.  A token near its expiry is
# refreshed before it is used, and a failed early refresh still lets the
# call go with the token that has not expired yet.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $spool = "$dir/spool";
my $csecret = B24T::random_secret(32);
my $down = $t->held_port;

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";

$t->emulator(args => ['--oauth-app', "app.test:$csecret", '--bucket', 0]);

my @tokens = ($csecret);

sub write_state {
    my ($name, $pair) = @_;
    push @tokens, $pair->{access_token}, $pair->{refresh_token};
    open my $fh, '>', "$dir/oauth/$name.json" or die $!;
    print $fh $B24T::JSON->encode({ %$pair, domain => $t->emu });
    close $fh;
    chmod 0666, "$dir/oauth/$name.json";
}

sub issue {
    return $t->emu_request('POST', '/_emu/oauth/issue', {@_});
}

sub oauth { $t->emu_request('GET', '/_emu/oauth') }

# "down": its token server does not answer; "soon": a token that expires
# in 30 s, within the 60 s margin

write_state('down', issue());
write_state('soon', issue(expires_in => 30));
write_state('soondown', issue(expires_in => 30));

$t->nginx(<<"EOF");
    b24trigger_portal down http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/down.json client_id=app.test
        client_secret=$csecret oauth_server=http://127.0.0.1:$down/
        connect_timeout=1s;
    b24trigger_portal soon http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/soon.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;
    b24trigger_portal soondown http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/soondown.json client_id=app.test
        client_secret=$csecret oauth_server=http://127.0.0.1:$down/
        connect_timeout=1s;
    b24trigger_queue $spool backoff=200ms backoff_max=400ms;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;

        location /down     { b24trigger_pass down; }
        location /queued   { b24trigger_pass down;
                             b24trigger_delivery queue; }
        location /soon     { b24trigger_pass soon; }
        location /soondown { b24trigger_pass soondown; }
    }
EOF

# a token near its expiry is refreshed before it is used

$t->emu_reset;

my $r = $t->post('/soon?id=3', '');
is($r->{status}, 200, 'near expiry: 200');
is_deeply([ map { [$_->{method}, $_->{status}] } @{ $t->calls } ],
          [ ['oauth.token', 200], ['crm.automation.trigger', 200] ],
          'near expiry: refreshed first, one call');

my $state = $B24T::JSON->decode($t->slurp("$dir/oauth/soon.json"));
cmp_ok($state->{expires}, '>', time + 3000, 'near expiry: new pair stored');
push @tokens, $state->{access_token}, $state->{refresh_token};

# near expiry, token server down: the old token still serves

$t->emu_reset;

$r = $t->post('/soondown?id=4', '');
is($r->{status}, 200, 'near expiry, server down: 200 with the old token');
is(scalar @{ $t->calls }, 1, 'near expiry, server down: one call');

# the token expires: sync 502, queue retries

$t->emu_reset;
$t->emu_request('POST', '/_emu/oauth/expire', {});

$r = $t->post('/down?id=1', '');
is($r->{status}, 502, 'refresh failed: 502');
is($r->{json}{error}, 'portal_unreachable', 'refresh failed: body');
like($t->error_log,
     qr/\[error\].*access token of portal "down" not refreshed, token server unreachable: /,
     'refresh failed: logged');
like($t->error_log,
     qr/\[error\].*portal "down" at "http:\/\/[^"]+\/rest\/" unreachable: the access token could not be refreshed; target "DEAL_1"/,
     'the call\'s line says why');

$r = $t->post('/queued?id=2', '');
is($r->{status}, 202, 'queued: 202');
my $id = $r->{json}{id};

ok($t->wait_log(qr/queued event "\Q$id\E" for portal "down" target "DEAL_2" failed \(attempt 2\)/, 10),
   'queued: retried');
ok(!-e "$spool/dead/$id.json", 'queued: not a dead letter');

my @calls = grep { ($_->{method} || '') ne 'oauth.token' } @{ $t->calls };
ok(!grep({ ($_->{status} || 0) == 200 } @calls), 'nothing reached the portal');

$t->finish;
$t->secret_nowhere('no token or client secret in replies or logs', @tokens);

done_testing;
