#!/usr/bin/perl

# b24trigger_delivery queue: 202 only once the event is on disk, in the
# documented spool layout; with the portal down every webhook is still
# accepted, and once it is back every one is delivered.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use B24T;

my $t = B24T->new;
my $port = $t->held_port;
my $spool = $t->dir . '/spool';

# the workers (nobody, when the tests run as root) walk to the spool
chmod 0711, $t->dir;

# the portal starts down: the emulator is started once to learn it works,
# then stopped

$t->emulator(port => $port, args => ['--bucket', 0]);
$t->stop_emulator;

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://127.0.0.1:$port/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000 connect_timeout=1s;
    b24trigger_queue $spool backoff=200ms backoff_max=1s;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_code c\$arg_id;
            b24trigger_delivery queue;
        }

        location /sync {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF

ok(-d "$spool/$_", "spool: $_/ made") for qw(tmp queue claim dead);

my $r = $t->post('/hook?id=1', '{}');

is($r->{status}, 202, 'queued: 202');
is($r->{headers}{'content-type'}, 'application/json', 'queued: json');
is($r->{json}{result}, 'queued', 'queued: result');
like($r->{json}{id}, qr/^\d{13}-\d+-[0-9a-f]{8}$/, 'queued: an id');

my $id = $r->{json}{id};

# the event is a file somewhere in the spool (maybe claimed already)

my @where = grep { /\Q$id\E/ } map { B24T->files("$spool/$_") } 'queue',
    map { "claim/$_" } B24T->files("$spool/claim");
is(scalar @where, 1, 'the event is one file in the spool');

# portal down: 100 more, all accepted

my @r = $t->concurrent(map { { path => "/hook?id=" . (100 + $_),
                               body => '{}' } } 1 .. 100);

is(scalar(grep { $_ && $_->{status} == 202 } @r), 100,
   'portal down: 100 webhooks all 202');

my %ids = map { $_->{json}{id} => 1 } grep { $_->{json} } @r;
is(scalar keys %ids, 100, 'every one has its own id');

# a file has the documented fields

my ($f, $ev);
$t->wait_until(sub {
    for my $n (grep { /^\d{13}-\d{13}-.*\.json$/ }
               B24T->files("$spool/queue"))
    {
        $ev = eval { $B24T::JSON->decode($t->slurp("$spool/queue/$n")) };
        return $f = $n if $ev && $ev->{last_error};
    }
    return 0;
}, 10);

$ev ||= {};
is($ev->{portal}, 'main', 'event: portal');
like($ev->{target}, qr/^DEAL_\d+$/, 'event: target');
like($ev->{code}, qr/^c\d+$/, 'event: code');
like($ev->{received}, qr/^\d{13}$/, 'event: received, ms');
cmp_ok($ev->{attempts}, '>=', 1, 'event: attempts');
is($ev->{last_error}{outcome}, 'portal_unreachable',
   'event: last error, unreachable');
like($f, qr/^\d{13}-\d{13}-\d+-[0-9a-f]{8}\.json$/,
     'a retried event is named after its next attempt');

like($t->error_log,
     qr/\[warn\].*queued event "[^"]+" for portal "main" target "DEAL_\d+" failed \(attempt \d+\): portal_unreachable .*next attempt in \d+ ms/,
     'retry logged at warn');

# the portal comes back at the same address

my $down = time;
$t->emulator(port => $port, args => ['--bucket', 0]);

my %want = map { ("DEAL_$_" => 1) } 1, 101 .. 200;
my %got;

ok($t->wait_until(sub {
    %got = map { ($_->{target} => 1) }
           grep { ($_->{status} || 0) == 200 } @{ $t->calls };
    keys %got >= keys %want;
}, 30), 'portal up: all 101 delivered');

is_deeply([sort grep { !$got{$_} } keys %want], [], 'none missing');

diag(sprintf 'delivered 101 in %.1f s after the portal came back',
     time - $down);

ok($t->wait_until(sub {
    !B24T->files("$spool/queue")
    && !grep { B24T->files("$spool/claim/$_") } B24T->files("$spool/claim")
}, 10), 'the spool is empty afterwards');

is_deeply([B24T->files("$spool/dead")], [], 'no dead letters');

my $c = (grep { $_->{target} eq 'DEAL_150' } @{ $t->calls })[-1];
is_deeply($c->{params}, { target => 'DEAL_150', code => 'c150' },
          'delivered with target and code');

# sync still works beside it

$r = $t->post('/sync?id=7', '{}');
is($r->{status}, 200, 'sync location beside: 200');

# a graceful quit leaves no claims

$t->quit(20);
is_deeply([B24T->files("$spool/claim")], [], 'claim dirs removed on quit');

$t->finish;
$t->secret_nowhere;

done_testing;
