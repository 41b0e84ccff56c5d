#!/usr/bin/perl

# The worker never blocks: with one worker and a portal answering after
# one second, 50 concurrent webhooks all succeed in about a second.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator(args => ['--latency', 1000, '--bucket', 0]);
$t->nginx(<<'EOF', workers => 1, log_level => 'info');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$arg_id;
        }
    }
EOF

my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '{}' } }
                       1 .. 50);

is(scalar(grep { $_ && $_->{status} == 200 } @r), 50,
   '50 concurrent webhooks forwarded');

my $slowest = 0;
for (@r) { $slowest = $_->{elapsed} if $_ && $_->{elapsed} > $slowest }

cmp_ok($slowest, "<", 10, sprintf("all answered in %.2fs, not 50s", $slowest));
cmp_ok($slowest, '>=', 0.9, 'the portal latency was real');

my %targets = map { $_->{target} => 1 } @{ $t->calls };
is(scalar keys %targets, 50, 'the portal got 50 distinct targets');

$t->finish;

done_testing;
