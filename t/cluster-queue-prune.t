#!/usr/bin/perl

# The Redis queue's consumers: each worker reads the group under its own
# name (host:pid), so every reload and every worker that dies leaves one
# behind.  Those idle longer than visibility= with nothing pending are
# removed; one killed with calls in flight keeps its entries pending until
# another worker takes them over, and every accepted event is delivered.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use Sys::Hostname;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--bucket', 0]);
$t->redis;

my $conf = <<'EOF';
    b24trigger_cluster redis://%%REDIS%% prefix=c: timeout=1s;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000 timeout=10s;
    b24trigger_queue redis backoff=200ms backoff_max=1s visibility=1s
                     concurrency=8;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_$arg_id;

        location /q { b24trigger_pass main; b24trigger_delivery queue; }
        location = /status { b24trigger_status; }
    }
EOF

chmod 0711, $t->dir;
$t->nginx($conf, workers => 2);

# webhooks only once the workers are linked to Redis (else 503)
sub linked {
    $t->wait_until(sub {
        (($t->request('GET', '/status')->{json} || {})->{cluster_up}
         || {})->{"redis://127.0.0.1:$t->{redis_port}"} }, 10);
}

linked();

my $host = hostname();

# the names in the group, and how many entries each has pending
sub consumers {
    my %c;
    my $out = $t->redis_cli('XINFO', 'CONSUMERS', 'c:queue', 'b24trigger');
    my @l = split /\n/, $out;
    for (my $i = 0; $i < @l; $i++) {
        next unless $l[$i] eq 'name';
        my $name = $l[$i + 1];
        my ($pending) = map { $l[$_ + 1] } grep { $l[$_] eq 'pending' }
                        $i .. ($i + 6 < $#l ? $i + 6 : $#l);
        $c{$name} = $pending;
    }
    return \%c;
}

sub delivered {
    my %n;
    $n{ $_->{target} }++ for grep { ($_->{status} || 0) == 200 }
                             @{ $t->calls };
    return \%n;
}

my @ids;

# a worker of a reload not yet linked to Redis answers 503: sent again
sub send_some {
    my ($from, $n) = @_;
    my @todo = $from .. $from + $n - 1;
    for my $try (1 .. 5) {
        my @r = $t->concurrent(map { { path => "/q?id=$_", body => '{}' } }
                               @todo);
        my @again;
        for my $i (0 .. $#todo) {
            my $st = ($r[$i] || {})->{status} || 0;
            if ($st == 202) { push @ids, "DEAL_$todo[$i]" }
            elsif ($st == 503) { push @again, $todo[$i] }
        }
        @todo = @again or last;
        sleep 0.5;
    }
}

send_some(1, 20);
is(scalar @ids, 20, '20 accepted');
ok($t->wait_until(sub { my $d = delivered(); !grep { !$d->{$_} } @ids }, 10),
   'delivered');

# two reloads: four workers gone, their names still in the group

$t->reload;
linked();
send_some(101, 20);
$t->reload;
linked();
send_some(201, 20);

# a worker killed while its calls are in flight: its entries stay pending
# for it.  The portal stays slow for seconds after, so that the other
# workers have no room and take them over late (XAUTOCLAIM runs only with
# room), while the consumer is long idle: it must not be removed before

$t->emu_config(latency_ms => 1500);
send_some(301, 80);
sleep 0.5;

my @workers = $t->worker_pids;
my $victim = $workers[0];
my $held = consumers()->{"$host:$victim"} || 0;
kill 'KILL', $victim;
$t->{allow_alerts} = qr/worker process $victim exited on signal 9/;

cmp_ok($held, '>', 0, "the killed worker held $held entries");

sleep 4;
$t->emu_config(latency_ms => 0);

is(scalar @ids, 140, '140 accepted in all');

ok($t->wait_until(sub { my $d = delivered(); !grep { !$d->{$_} } @ids }, 20),
   'every accepted event delivered')
    or diag('missing: ', join ' ', do { my $d = delivered();
                                        grep { !$d->{$_} } @ids });

# the names left: the living workers' only

my %living;

ok($t->wait_until(sub {
    %living = map { ("$host:$_" => 1) } $t->worker_pids;
    my $c = consumers();
    !grep { !$living{$_} } keys %$c;
}, 15), 'the consumers of workers gone were removed')
    or diag(explain(consumers()), explain(\%living));

like($t->error_log,
     qr/\[notice\].*b24trigger: \d+ consumer\(s\) of the queue "c:queue" idle for more than 1000 ms with nothing pending removed \(workers gone\)/,
     'said in the error log');

like($t->error_log, qr/queued event\(s\) idle for more than 1000 ms taken over/,
     'the killed worker\'s entries were taken over first');

# a name removed with entries pending drops them from the group: nobody
# settles them, and they stay in the stream
is($t->redis_cli('XLEN', 'c:queue'), "0\n", 'nothing left in the stream');
is($t->redis_cli('HLEN', 'c:queue:dead'), "0\n", 'no dead letters');

$t->finish;

done_testing;
