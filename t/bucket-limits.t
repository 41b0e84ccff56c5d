#!/usr/bin/perl

# rate= and burst= at the edges of their numbers: a burst so large that
# its room in microseconds does not fit 64 bits admits calls as a bucket
# without limit would, instead of refusing every one.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
$t->emulator;

sub conf {
    my ($params) = @_;
    return <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ $params;

    server {
        listen %%LISTEN%%;

        location /sync {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
EOF
}

# 10^14 x 526315 us does not fit 64 bits

$t->nginx(conf('rate=2r/s burst=100000000000000 wait=0'));

my @s = map { $t->post("/sync?id=$_", '{}')->{status} } 1 .. 3;
is("@s", '200 200 200', 'burst=100000000000000: every call goes');
is(scalar @{ $t->calls }, 3, 'and reaches the portal');

$t->finish;

done_testing;
