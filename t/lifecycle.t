#!/usr/bin/perl

# Calls in flight when the client goes away, on reload, on graceful quit
# and at worker_shutdown_timeout: no alert, no socket left behind, and the
# calls that can finish do.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;

my $conf = <<'EOF';
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ timeout=5s;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$arg_id;
        }
    }
EOF

$t->emulator(args => ['--bucket', 0]);
$t->nginx($conf, workers => 2,
          main => 'worker_shutdown_timeout 3s;');

# the client goes away while the portal thinks

$t->emu_config(latency_ms => 1500);
$t->abort_after(0.5, '/hook?id=1', '{}');

ok($t->wait_log(qr/\[info\].*client prematurely closed connection/, 5),
   'client abort noticed at once');

sleep 1.5;

my $r = $t->post('/hook?id=2', '{}');
is($r->{status}, 200, 'the next webhook is served');

# reload with calls in flight: the old workers finish them

$t->emu_config(latency_ms => 1000);

my $pid = fork();
if ($pid == 0) {
    sleep 0.3;
    $t->reload(undef, nowait => 1);
    exit 0;
}

my @r = $t->concurrent(map { { path => "/hook?id=1$_", body => '{}' } }
                       1 .. 10);
waitpid($pid, 0);

is(scalar(grep { $_ && $_->{status} == 200 } @r), 10,
   'reload: all 10 calls in flight finished');

# quit with calls in flight: they finish, then the workers exit

$pid = fork();
if ($pid == 0) {
    my @r = $t->concurrent(map { { path => "/hook?id=2$_", body => '{}' } }
                           1 .. 5);
    exit(scalar(grep { $_ && $_->{status} == 200 } @r));
}

sleep 0.4;
my $took = $t->quit(20);
waitpid($pid, 0);

is($? >> 8, 5, 'quit: all 5 calls in flight finished');
cmp_ok($took, '>', 0, "nginx quit after the calls (${took}s)");

my $log = $t->error_log;
unlike($log, qr/open socket #\d+ left/, 'no socket left behind');
like($log, qr/exit/, 'workers exited');

# worker_shutdown_timeout: a portal that never answers

$t->emu_config(mode => 'hang', latency_ms => 0);
$t->nginx($conf, workers => 1, main => 'worker_shutdown_timeout 1s;');

$pid = fork();
if ($pid == 0) {
    my $r = $t->post('/hook?id=31', '{}');
    exit($r->{status} ? $r->{status} - 500 : 0);
}

sleep 0.4;
$took = $t->quit(20);
waitpid($pid, 0);

cmp_ok($took, '<', 4, "shutdown timeout honoured (${took}s)");
ok(($? >> 8) == 0 || ($? >> 8) == 2,
   'the waiting sender got no answer or 502');
unlike($t->error_log, qr/open socket #\d+ left/,
       'no socket left behind at shutdown timeout');

$t->finish;

done_testing;
