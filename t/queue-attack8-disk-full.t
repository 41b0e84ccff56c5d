#!/usr/bin/perl

# Attacker review 8, rule "a 202 from the queue means the event is
# delivered eventually": the spool's file system fills up (a tmpfs of
# 256 KB, mounted for the test: root only) while the portal is failing.
# Events are accepted until the disk is full, then refused 503
# queue_full, never a 202 for what is not on disk; meanwhile delivery
# keeps failing and must rewrite and move the events it claimed on the
# full disk, some of them in batches (webhooks that came together), some
# dead letters to be written (a target the portal refuses).  Then the
# portal comes back: every 202 reaches the portal, and the spool takes
# webhooks again.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

plan(skip_all => 'mounts a tmpfs: root only') if $> != 0;

my $t = B24T->new;
my $dir = $t->dir;
my $fs = "$dir/fs";
my $spool = "$fs/spool";
my $port = $t->held_port;
chmod 0711, $dir;
mkdir $fs;

system('mount', '-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', $fs)
    == 0 or plan(skip_all => 'cannot mount a tmpfs here');

my $mounted = 1;
END { system('umount', '-l', $fs) if $mounted && $fs }

$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://127.0.0.1:$port/rest/1/%%SECRET%%/
                      connect_timeout=1s rate=100r/s burst=100;
    b24trigger_queue $spool backoff=200ms backoff_max=500ms;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_delivery queue;
        }
    }
EOF

# the portal refuses: every attempt fails, and is written back

my (%accepted, $r);
my $i = 0;
my $full = 0;

while ($i < 400 && !$full) {

    # one at a time, then ten at once (a batch)

    my @ids = ($i % 3) ? (++$i) : map { ++$i } 1 .. 10;
    my @r = $t->simultaneous(map { { method => 'POST',
                                     path => "/hook?id=$_",
                                     body => '{}' } } @ids);

    for my $k (0 .. $#r) {
        my $x = $r[$k];
        if (($x->{status} || 0) == 202) {
            $accepted{"DEAL_$ids[$k]"} = 1;
        } elsif (($x->{status} || 0) == 503) {
            $full++;
            $r = $x;
        } else {
            fail("unexpected status " . ($x->{status} || 'none'));
        }
    }
}

my $n = keys %accepted;
cmp_ok($n, '>', 10, "$n accepted before the disk was full");
ok($full, 'then refused');
is($r && $r->{json} && $r->{json}{error}, 'queue_full', 'full: queue_full');
like($r && $r->{headers}{'retry-after'} || '', qr/^\d+$/,
     'full: Retry-After');

diag("the spool's file system: " . `df -k $fs | tail -1`);

# the portal still failing for a while, on the full disk

sleep 3;

# the portal is back; DEAL_13 is refused by it (a dead letter to write)

$t->emulator(port => $port, args => ['--bucket', 0, '--deny', 'DEAL_13']);

sub missing {
    my %got = map { $_->{target} => 1 } @{ $t->calls };
    return grep { !$got{$_} } sort keys %accepted;
}

ok($t->wait_until(sub { !missing() }, 30),
   'every accepted event reached the portal')
    or diag('never called: ' . join(' ', missing()));

diag(scalar(@{ $t->calls }) . " calls for $n accepted events");

ok($t->wait_until(sub {
    !$t->files("$spool/queue")
    && !grep { $t->files("$spool/claim/$_") } $t->files("$spool/claim")
}, 10), 'the spool drained')
    or diag(`find $spool -type f`);

# room again

$r = $t->post('/hook?id=999', '{}');
is($r->{status}, 202, 'room again: 202');
ok($t->wait_until(sub { grep { $_->{target} eq 'DEAL_999' }
                        @{ $t->calls } }, 10),
   'and delivered');

$t->finish;
undef $mounted;
system('umount', $fs) == 0 or diag("umount $fs: $?");

done_testing;
