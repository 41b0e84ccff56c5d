#!/usr/bin/perl

# make demo-cluster (tools/demo-cluster.sh) runs as written: two nodes and
# a Redis against the emulator; one event accepted by node A survives
# node A's kill -9 and is delivered by node B, once; the provider's retry
# is a duplicate; no secret in the logs (the script checks them too).

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $out = `$B24T::ROOT/tools/demo-cluster.sh $t->{module} $t->{nginx} 2>&1`;
my $rc = $? >> 8;

is($rc, 0, 'demo-cluster.sh exits 0') or diag($out);
like($out, qr/reply from node A: \{"result":"queued","id":"[^"]+"\} \(HTTP 202\)/,
     'node A accepted the event');
like($out, qr/node A took the event and is calling the portal/,
     'node A took it from the stream');
like($out, qr/reply from node B: \{"result":"duplicate"\} \(HTTP 200\)/,
     "the provider's retry on node B: a duplicate");
like($out, qr/taken over from another consumer/, 'node B took it over');
like($out, qr/1 answered call\(s\), 1 delivered/, 'delivered once');
like($out, qr/"cluster_up": \{"redis:\/\/127\.0\.0\.1:\d+\/0": 1\}/,
     "node B's link is up");
unlike($out, qr/^!!/m, 'nothing failed');

done_testing();
