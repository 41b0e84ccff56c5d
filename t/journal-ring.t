#!/usr/bin/perl

# The journal's ring stays bounded under load: with
# "b24trigger_journal_ring 10" and two workers, 300 webhooks at once leave
# exactly the 10 newest entries, numbered without a gap; a reload keeps
# them; the workers' memory does not grow with the webhooks.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);

my $conf = <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_journal_ring 10;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

$t->emulator(args => ['--bucket', 0]);
$t->nginx($conf, workers => 2);

sub rss {
    my $kb = 0;
    for my $pid ($t->worker_pids) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) { $kb += $1 if /^VmRSS:\s+(\d+)/ }
    }
    return $kb;
}

sub burst {
    my ($n, $from) = @_;
    my @r = $t->concurrent(map {
        { path => '/hook?id=' . ($from + $_), body => '{}',
          headers => ['X-Token' => $token] }
    } 1 .. $n);
    return scalar grep { $_ && $_->{status} == 200 } @r;
}

sub events { $t->request('GET', '/status?view=events&limit=1000')->{json} }

is(burst(100, 0), 100, 'a first burst');
ok($t->wait_until(sub { events()->{last} == 100 }, 10), 'journaled');
my $before = rss();

is(burst(200, 100), 200, 'a second burst');
ok($t->wait_until(sub { events()->{last} == 300 }, 10),
   'every webhook was an entry');

my $j = events();
is($j->{ring}, 10, 'the ring holds 10');
is(scalar @{ $j->{events} }, 10, 'exactly 10 entries kept');
is_deeply([map { $_->{seq} } @{ $j->{events} }], [reverse 291 .. 300],
          'the 10 newest, without a gap');
is(scalar(grep { $_->{result} eq 'forwarded' } @{ $j->{events} }), 10,
   'each a whole entry');

my %targets = map { $_->{target} => 1 } @{ $j->{events} };
is(scalar keys %targets, 10, 'ten different webhooks');

my $after = rss();

SKIP: {
    skip 'valgrind has memory of its own', 1 if $ENV{B24_VALGRIND};
    cmp_ok($after - $before, '<', 2048,
           "the workers' memory did not grow ($before kB, then $after kB)");
}

# a reload keeps the entries

$t->reload($conf);
ok($t->wait_until(sub {
    my $e = events();
    $e && $e->{last} == 300 && @{ $e->{events} } == 10;
}, 10), 'a reload keeps them');

$t->finish;

done_testing;
