#!/usr/bin/perl

# An OAuth portal on two nodes of a cluster, when the refresh is cut
# across: the pair refreshed by one node always ends in Redis (and the
# lock released) whatever happens to the worker that asked for it, and
# the other node takes it without sending a dead refresh token.
#  - reload (HUP) of the refreshing node while its grant is in flight;
#  - graceful stop (QUIT) of the refreshing node while its grant is in
#    flight;
#  - the lock expiring mid-refresh, the other node refreshing meanwhile
#    with the same refresh token (the token server grants the first
#    only): Redis keeps the pair that was granted, never a refused one,
#    and node 2's call, refused at the token server, looks in Redis and
#    goes on with that pair rather than fail.
# Under valgrind (make test-valgrind T=cluster-oauth-race.t), the
# timers and Redis answers after the request or the cycle is gone.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use B24T;

my $t = B24T->new;
my $csecret = B24T::random_secret(32);

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);
$t->redis;

my $p0 = $t->emu_request('POST', '/_emu/oauth/issue', { expires_in => 30 });
my @tokens = ($csecret, $p0->{access_token}, $p0->{refresh_token});

my $conf = <<"EOF";
    b24trigger_cluster redis://%%REDIS%% prefix=b: timeout=1s;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/ timeout=5s;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

my $n2 = $t->node;
my @nodes = ($t, $n2);

for my $n (@nodes) {
    my $d = $n->dir;
    chmod 0711, $d;
    mkdir "$d/oauth";
    chmod 0777, "$d/oauth";
    open my $fh, '>', "$d/oauth/app.json" or die $!;
    print $fh $B24T::JSON->encode({
        access_token => $p0->{access_token},
        refresh_token => $p0->{refresh_token},
        expires => $p0->{expires}, member_id => 'member1',
        domain => $t->emu });
    close $fh;
    chmod 0600, "$d/oauth/app.json";
    $n->nginx($conf, workers => 2);
}

my $link = "redis://127.0.0.1:$t->{redis_port}";

sub linked {
    my ($n) = @_;
    return $n->wait_until(sub {
        my $s = $n->request('GET', '/status')->{json} || {};
        ($s->{cluster_up} || {})->{$link} }, 15);
}

ok(linked($_), 'node ' . ($_ == $t ? 1 : 2) . ' linked') for @nodes;

sub oauth { $t->emu_request('GET', '/_emu/oauth') }

sub state_of {
    my ($n) = @_;
    my $s = eval { $B24T::JSON->decode($n->slurp($n->dir
                                                 . '/oauth/app.json')) }
            || {};
    push @tokens, grep { defined } $s->{access_token}, $s->{refresh_token};
    return $s;
}

sub in_redis {
    my ($field) = @_;
    my $v = $t->redis_cli('HGET', 'b:oauth:app', $field);
    $v =~ s/\s+\z//;
    push @tokens, $v if length $v > 8;
    return $v;
}

sub refused {
    return scalar grep { ($_->{method} || '') eq 'oauth.token'
                         && ($_->{error} || '') eq 'invalid_grant' }
                  @{ $t->calls };
}

sub locked { $t->redis_cli('EXISTS', 'b:oauth-lock:app') =~ /^1/ }

my $id = 1;

# a webhook to node 1 whose answer is read later
sub start_hook {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
        or die "connect: $!";
    B24T::send_request($s, '127.0.0.1', $t->port, 'POST',
                       '/hook?id=' . $id++, body => '');
    return $s;
}

# node 2 at expiry, after node 1 refreshed: takes the pair, no refresh
sub node2_takes {
    my ($what, $refreshes) = @_;

    my $r = $n2->request('POST', '/hook?id=' . $id++, body => '',
                         timeout => 20);
    is($r->{status}, 200, "$what: node 2 forwarded");
    is(oauth()->{refreshes}, $refreshes,
       "$what: node 2 took node 1's pair, no refresh of its own");
    is(scalar(grep { ($_->{method} || '') eq 'oauth.token'
                     && ($_->{status} || 0) == 400 } @{ $t->calls }), 0,
       "$what: no dead refresh token sent");
    is(state_of($n2)->{refresh_token}, in_redis('refresh_token'),
       "$what: node 2 holds Redis's pair");
}

###############################################################################
# 1. reload of node 1 while its grant is in flight

$t->emu_request('POST', '/_emu/oauth/expire', {});
$t->emu_config(oauth_latency_ms => 1500);
my $before = oauth()->{refreshes};

my $s = start_hook();
ok($t->wait_until(\&locked, 10), 'reload: node 1 holds the lock');
$t->reload(undef, nowait => 1);

my $r = B24T::read_response($s, 20);
is($r->{status}, 200, 'reload: the call in flight was forwarded');
is(oauth()->{refreshes}, $before + 1, 'reload: one refresh');

ok($t->wait_until(sub {
       in_redis('refresh_token') eq (state_of($t)->{refresh_token} || '-')
   }, 10),
   'reload: the refreshed pair is in Redis')
    or diag('redis: ' . in_redis('refresh_token') . ', node 1: '
            . (state_of($t)->{refresh_token} || ''));
ok(!locked(), 'reload: the lock released, not left to expire');

$t->emu_config(oauth_latency_ms => 0);
node2_takes('reload', $before + 1);

###############################################################################
# 2. graceful stop of node 1 while its grant is in flight

$t->emu_request('POST', '/_emu/oauth/expire', {});
$t->emu_config(oauth_latency_ms => 1500);
$before = oauth()->{refreshes};

$s = start_hook();
ok($t->wait_until(\&locked, 10), 'quit: node 1 holds the lock');
$t->signal('QUIT');

$r = B24T::read_response($s, 20);
is($r->{status}, 200, 'quit: the call in flight was forwarded');
ok($t->quit(20) >= 0, 'quit: node 1 stopped');
is(oauth()->{refreshes}, $before + 1, 'quit: one refresh');
ok(in_redis('refresh_token') eq (state_of($t)->{refresh_token} || '-'),
   'quit: the refreshed pair is in Redis')
    or diag('redis: ' . in_redis('refresh_token') . ', node 1: '
            . (state_of($t)->{refresh_token} || ''));
ok(!locked(), 'quit: the lock released');

$t->emu_config(oauth_latency_ms => 0);
node2_takes('quit', $before + 1);

$t->nginx($conf, workers => 2);
ok(linked($t), 'node 1 back');

###############################################################################
# 3. the lock expires while node 1's grant is in flight; node 2 refreshes
# the same refresh token meanwhile: the token server grants node 1's
# (first in), refuses node 2's; Redis ends with node 1's pair

$t->emu_request('POST', '/_emu/oauth/expire', {});
$t->emu_config(oauth_latency_ms => 1500);
$before = oauth()->{refreshes};

# both nodes at expiry: node 1 first, so that it holds the lock

$r = $t->request('POST', '/hook?id=' . $id++, body => '', timeout => 20);
is($r->{status}, 200, 'lock: node 1 forwarded first (warming the pair)');
$t->emu_config(oauth_latency_ms => 0);

# node 2 takes that pair (its background look, once a second), so that
# both nodes hold the same refresh token

my $warm = state_of($t)->{refresh_token};
ok($n2->wait_until(sub {
       $n2->request('POST', '/hook?id=' . $id++, body => '');
       (state_of($n2)->{refresh_token} || '') eq $warm }, 10),
   'lock: node 2 holds node 1\'s pair too');

$t->emu_config(oauth_latency_ms => 1500);
$before = oauth()->{refreshes};
$t->emu_request('POST', '/_emu/oauth/expire', {});

my $refused = refused();
$s = start_hook();
ok($t->wait_until(\&locked, 10), 'lock: node 1 holds the lock');
$t->redis_cli('PEXPIRE', 'b:oauth-lock:app', 1);
ok($t->wait_until(sub { !locked() }, 5), 'lock: its lock expired');

my $r2 = $n2->request('POST', '/hook?id=' . $id++, body => '',
                      timeout => 20);
$r = B24T::read_response($s, 20);
is($r->{status}, 200, 'lock: node 1 forwarded');
is($r2->{status}, 200,
   'lock: node 2\'s call, refused at the token server, went on with '
   . 'node 1\'s pair from Redis');
is(oauth()->{refreshes}, $before + 1,
   'lock: the token server granted one of the two refreshes');
is(refused(), $refused + 1, 'lock: and refused the other (node 2\'s)');

my $granted = state_of($t)->{refresh_token};
ok($t->wait_until(sub { in_redis('refresh_token') eq $granted }, 5),
   'lock: Redis holds the pair that was granted (node 1\'s)');

$t->emu_config(oauth_latency_ms => 0);

$r = $n2->request('POST', '/hook?id=' . $id++, body => '', timeout => 20);
is($r->{status}, 200, 'lock: node 2 forwards (now, or already)');
is(state_of($n2)->{refresh_token}, $granted, 'lock: node 2 took it');
is(oauth()->{refreshes}, $before + 1, 'lock: no other refresh');

###############################################################################
# nothing of it anywhere

in_redis('access_token');

for my $n (@nodes) {
    $n->finish;
    $n->secret_nowhere('node ' . ($n == $t ? 1 : 2)
                       . ': no token or client secret in replies or logs',
                       @tokens);
}

done_testing;
