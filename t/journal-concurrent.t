#!/usr/bin/perl

# The journal's ring takes no lock: two workers number their entries with
# one atomic add each, claim a slot, write it and publish it.  2 000
# webhooks, 400 at once, of different lengths, while another process
# reads the ring through the status API all along: every entry read, during and
# after, is whole (its target and its code come from the same webhook),
# numbers are unique, and the newest 1 000 are all there without a gap.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);

my $conf = <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100000r/s burst=100000;
    b24trigger_journal_ring 1000;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_code C\$arg_id\$arg_pad;
        }

        location = /status { b24trigger_status; }
    }
EOF

$t->emulator(args => ['--bucket', 0]);
$t->nginx($conf, workers => 2);

sub events { $t->request('GET', '/status?view=events&limit=1000')->{json} }

# an entry is whole when its target's number starts its code

sub torn {
    my ($j) = @_;
    return grep {
        my ($n) = ($_->{target} // '') =~ /^DEAL_(\d+)$/;
        !defined $n || ($_->{code} // '') !~ /^C${n}x*$/
    } @{ $j->{events} || [] };
}

my $result = $t->dir . '/reader.txt';

my $pid = fork;
die "fork: $!" unless defined $pid;

if ($pid == 0) {
    my ($reads, $entries, $bad) = (0, 0, 0);
    my $end = time + 60;
    while (time < $end) {
        my $j = eval { events() } or next;
        $reads++;
        $entries += scalar @{ $j->{events} || [] };
        $bad += scalar torn($j);
        last if ($j->{last} // 0) >= 2000;
    }
    open my $fh, '>', $result or exit 1;
    print $fh "$reads $entries $bad\n";
    close $fh;
    exit 0;
}

# 400 at a time: worker_connections is 1024

my @r;

for my $b (0 .. 4) {
    push @r, $t->concurrent(map {
        { path => "/hook?id=$_&pad=" . ('x' x ($_ % 97)), body => '{}',
          headers => ['X-Token' => $token] }
    } $b * 400 + 1 .. $b * 400 + 400);
}

is(scalar(grep { $_ && $_->{status} == 200 } @r), 2000, 'all forwarded');

waitpid $pid, 0;

open my $fh, '<', $result or die "no reader's result";
my ($reads, $entries, $bad) = split ' ', scalar <$fh>;
close $fh;

cmp_ok($reads, '>', 1, "the reader read the ring meanwhile ($reads times)");
cmp_ok($entries, '>', 0, "and saw entries ($entries)");
is($bad, 0, 'none of them torn');

ok($t->wait_until(sub { (events()->{last} // 0) >= 2000 }, 10),
   'every webhook numbered');

my $j = events();
is($j->{last}, 2000, 'numbers 1 to 2000, none twice');
is(scalar @{ $j->{events} }, 1000, 'the ring full');
is_deeply([map { $_->{seq} } @{ $j->{events} }], [reverse 1001 .. 2000],
          'the 1000 newest, without a gap');
is(scalar(torn($j)), 0, 'each a whole entry');

my %ids = map { ($_->{target} =~ /(\d+)/)[0] => 1 } @{ $j->{events} };
is(scalar keys %ids, 1000, 'a thousand different webhooks');

$t->finish;

done_testing;
