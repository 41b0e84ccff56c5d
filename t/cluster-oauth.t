#!/usr/bin/perl

# An OAuth portal on two nodes of a cluster (issue 15, acceptance 6):
# the token pair lives in Redis and is refreshed once for all nodes.
# Refresh tokens rotate (the emulator refuses one used before), so two
# nodes refreshing on their own would leave one with a dead pair.
#  - at expiry, 30 webhooks at once over both nodes (2 workers each):
#    exactly one refresh, every call forwarded;
#  - a node whose own pair is stale (the other node refreshed) takes
#    Redis's, without refreshing its dead one;
#  - the node holding the refresh lock killed mid-refresh: the lock
#    expires, the other node refreshes, the pair is not lost, and the
#    killed node takes it from Redis when it comes back;
#  - Redis down at expiry: a node refreshes on its own and keeps
#    forwarding, says so; Redis back: the other node takes that pair;
#  - an install through one node is used by the other;
#  - no token in any log or reply, no [alert].

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

# the pair the application was installed with, at its expiry

my $p0 = $t->emu_request('POST', '/_emu/oauth/issue', { expires_in => 30 });
my @tokens = ($csecret, $p0->{access_token}, $p0->{refresh_token});

my $conf = <<"EOF";
    b24trigger_cluster redis://%%REDIS%% prefix=b: timeout=1s;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/ timeout=2s;

    server {
        listen %%LISTEN%%;

        location /install { b24trigger_oauth_install app; }

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
    my ($n, $up) = @_;
    return $n->wait_until(sub {
        my $s = $n->request('GET', '/status')->{json} || {};
        !!(($s->{cluster_up} || {})->{$link}) == !!$up }, 15);
}

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
    push @tokens, $v if $v =~ /\S/;
    return $v;
}

sub token_calls {
    return grep { ($_->{method} || '') eq 'oauth.token' } @{ $t->calls };
}

sub taken {
    my ($n) = @_;
    my @l = grep { /taken from the cluster/ } split /\n/, $n->error_log;
    return scalar @l;
}

ok(linked($_, 1), 'node ' . ($_ == $t ? 1 : 2) . ' linked') for @nodes;

###############################################################################
# 1. at expiry, 30 webhooks at once over both nodes: one refresh

$t->emu_config(oauth_latency_ms => 300);

my @r = $t->concurrent(map {
    { path => "/hook?id=$_", body => '', port => $nodes[$_ % 2]->port }
} 1 .. 30);

is(scalar(grep { ($_->{status} || 0) == 200 } @r), 30,
   'at expiry: 30 webhooks over two nodes, all forwarded');
is(oauth()->{refreshes}, 1, 'at expiry: exactly one refresh');
is(scalar(grep { ($_->{status} || 0) == 400 } token_calls()), 0,
   'at expiry: no dead refresh token sent');

my ($s1, $s2) = (state_of($t), state_of($n2));
ok($s1->{refresh_token} && $s1->{refresh_token} ne $p0->{refresh_token}
   && $s1->{refresh_token} eq ($s2->{refresh_token} || ''),
   'both state files hold the new pair');
ok(in_redis('refresh_token') eq $s1->{refresh_token},
   'Redis holds it (b:oauth:app)');
is(taken($t) + taken($n2), 1, 'the other node took it from the cluster');

$t->emu_config(oauth_latency_ms => 0);

###############################################################################
# 2. a stale node: node 1 refreshes, node 2 then takes Redis's pair

$t->emu_request('POST', '/_emu/oauth/expire', {});

my $r = $t->post('/hook?id=31', '');
is($r->{status}, 200, 'stale: node 1 refreshed and forwarded');
is(oauth()->{refreshes}, 2, 'stale: one more refresh');

$r = $n2->post('/hook?id=32', '');
is($r->{status}, 200, 'stale: node 2 forwarded');
is(oauth()->{refreshes}, 2, 'stale: node 2 did not refresh');
is(scalar(grep { ($_->{status} || 0) == 400 } token_calls()), 0,
   'stale: node 2 never sent its dead refresh token');
($s1, $s2) = (state_of($t), state_of($n2));
ok($s1->{refresh_token} eq ($s2->{refresh_token} || ''),
   'stale: node 2 stored the pair of node 1');

###############################################################################
# 3. the lock holder killed mid-refresh (the token server is slow)

$t->emu_request('POST', '/_emu/oauth/expire', {});
$t->emu_config(oauth_latency_ms => 3000);

my $before = oauth()->{refreshes};
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port)
    or die "connect: $!";
B24T::send_request($s, '127.0.0.1', $t->port, 'POST', '/hook?id=33',
                   body => '');

ok($t->wait_until(sub {
       $t->redis_cli('EXISTS', 'b:oauth-lock:app') =~ /^1/ }, 10),
   'kill: node 1 holds the lock');
sleep($ENV{B24_VALGRIND} ? 2 : 0.5);     # its grant reached the token server
$t->crash;
close $s;
$t->emu_config(oauth_latency_ms => 0);

$r = $n2->post('/hook?id=34', '');
is($r->{status}, 200, 'kill: node 2 forwarded once the lock expired');
is(oauth()->{refreshes}, $before + 1, 'kill: node 2 refreshed');
ok($t->wait_until(sub {
       grep { ($_->{error} || '') eq 'client_gone' } token_calls() }, 5),
   'kill: the token server never granted node 1\'s refresh');

# node 1 back, with its stale state file: it takes Redis's pair

$t->nginx($conf, workers => 2);
ok(linked($t, 1), 'kill: node 1 back and linked');
$r = $t->post('/hook?id=35', '');
is($r->{status}, 200, 'kill: node 1 forwards with the pair of node 2');
is(oauth()->{refreshes}, $before + 1, 'kill: no refresh for that');
($s1, $s2) = (state_of($t), state_of($n2));
ok($s1->{refresh_token} eq ($s2->{refresh_token} || '')
   && in_redis('refresh_token') eq $s1->{refresh_token},
   'kill: the pair is not lost');

###############################################################################
# 4. Redis down at expiry: the nodes go on their own

$t->stop_redis;
ok(linked($_, 0), 'down: node ' . ($_ == $t ? 1 : 2) . ' unlinked')
    for @nodes;

$t->emu_request('POST', '/_emu/oauth/expire', {});
$before = oauth()->{refreshes};

$r = $t->post('/hook?id=36', '');
is($r->{status}, 200, 'down: node 1 refreshed on its own and forwarded');
is(oauth()->{refreshes}, $before + 1, 'down: one refresh');
like($t->error_log, qr/\[warn\] .*access token of portal "app" refreshed by this node alone, the cluster link is down/,
     'down: node 1 said so');

$r = $n2->post('/hook?id=37', '');
is($r->{status}, 502, 'down: node 2\'s pair is dead (node 1 rotated it)');
like($n2->error_log, qr/refused the refresh token of portal "app"/,
     'down: node 2 said why');

# Redis back (empty: no persistence in the test): node 1 shares its
# pair, node 2 takes it without a reload

$t->redis;
ok(linked($_, 1), 'back: node ' . ($_ == $t ? 1 : 2) . ' linked')
    for @nodes;

$before = oauth()->{refreshes};
$r = $t->post('/hook?id=38', '');
is($r->{status}, 200, 'back: node 1 forwards');
ok($t->wait_until(sub { in_redis('refresh_token') ne '' }, 5),
   'back: node 1 wrote its pair to Redis');
$r = $n2->post('/hook?id=39', '');
is($r->{status}, 200, 'back: node 2 took it and forwards');
is(oauth()->{refreshes}, $before, 'back: without a refresh');
($s1, $s2) = (state_of($t), state_of($n2));
ok($s1->{refresh_token} eq ($s2->{refresh_token} || ''),
   'back: both nodes hold the same pair');

###############################################################################
# 5. an install through node 2: node 1 uses the new pair

$before = oauth()->{refreshes};
$r = $t->emu_request('POST', '/_emu/oauth/install',
                     { url => 'http://127.0.0.1:' . $n2->port . '/install' });
push @tokens, grep { defined } $r->{access_token}, $r->{refresh_token};
is($r->{status}, 200, 'install: through node 2');

$s2 = state_of($n2);
ok($s2->{refresh_token} && in_redis('refresh_token') eq $s2->{refresh_token},
   'install: the new pair is in Redis');

# node 1's pair still works; while calls go, node 1 looks in Redis (at
# most once a second) and takes the installed pair

sleep 1.1;
$r = $t->post('/hook?id=40', '');
is($r->{status}, 200, 'install: node 1 forwards');
ok($t->wait_until(sub {
       (state_of($t)->{refresh_token} || '') eq $s2->{refresh_token} }, 5),
   'install: node 1 took the installed pair');
$r = $t->post('/hook?id=41', '');
is($r->{status}, 200, 'install: node 1 forwards with it');
is(oauth()->{refreshes}, $before + 1,
   'install: no refresh but the install handler\'s own');

###############################################################################
# 6. something else wrote the key: a pair that is no pair (too long a
# token, an expiry that is no number) is never taken, it is replaced

for my $junk (['access_token', 'a' x 300, 'expires', 9999999999],
              ['access_token', 'b' x 32, 'expires', 'soon']) {
    $t->redis_cli('HSET', 'b:oauth:app', 'refresh_token', 'c' x 32,
                  'lifetime', 0, 'member_id', 'member1', @$junk);
    $t->emu_request('POST', '/_emu/oauth/expire', {});
    $before = oauth()->{refreshes};

    my $what = $junk->[3] eq 'soon' ? 'no expiry' : 'a long token';

    $r = $t->post('/hook?id=42', '');
    is($r->{status}, 200, "junk ($what): node 1 refreshed and forwarded");
    is(oauth()->{refreshes}, $before + 1, "junk ($what): one refresh");
    $s1 = state_of($t);
    ok(in_redis('refresh_token') eq ($s1->{refresh_token} || '-'),
       "junk ($what): replaced by node 1's pair");

    sleep 1.1;
    $r = $n2->post('/hook?id=43', '');
    is($r->{status}, 200, "junk ($what): node 2 forwards");
    ok($n2->wait_until(sub {
           (state_of($n2)->{refresh_token} || '') eq $s1->{refresh_token} },
           5),
       "junk ($what): node 2 took node 1's pair");
    is(oauth()->{refreshes}, $before + 1, "junk ($what): no other refresh");
}

###############################################################################
# no token anywhere, no [alert]

in_redis('access_token');

for my $n (@nodes) {
    $n->finish;
    $n->secret_nowhere('node ' . ($n == $t ? 1 : 2)
                       . ': no token or client secret in replies or logs',
                       @tokens);
}

done_testing;
