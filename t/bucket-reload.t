#!/usr/bin/perl

# The portal's bucket across a reload that changes rate=: the calls the
# bucket holds stay that many calls and drain at the new rate.  Raised
# from 1r/m to 20r/s, a full bucket of 2 is empty again in a tenth of a
# second, not after the two minutes that 2 calls took at 1r/m; lowered
# from 2r/s to 1r/m, a full bucket of 5 stays full, and no burst of 5
# more goes at once.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

my $t = B24T->new;
$t->emulator;

sub conf {
    my ($rate, $burst) = @_;
    return <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=$rate burst=$burst wait=0;

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

sub statuses {
    my ($from, $n) = @_;
    return join ' ', map { $t->post("/sync?id=$_", '{}')->{status} }
                     $from .. $from + $n - 1;
}

# raised: 1r/m, burst=2, full; then 20r/s

$t->nginx(conf('1r/m', 2));
is(statuses(1, 3), '200 200 503', '1r/m burst=2: two go, the third waits');

$t->reload(conf('20r/s', 2));
sleep 0.5;

is(statuses(11, 2), '200 200',
   'reloaded with 20r/s: the two calls drained at the new rate');

# lowered: 2r/s, burst=5, full; then 1r/m

$t->reload(conf('2r/s', 5));
sleep 3;

is(statuses(21, 6), '200 200 200 200 200 503', '2r/s burst=5: five go');

$t->reload(conf('1r/m', 5));

my $after = statuses(31, 5);
cmp_ok(scalar(() = $after =~ /200/g), '<=', 1,
       "reloaded with 1r/m: still full ($after)");

is(scalar @{ $t->calls }, 9 + scalar(() = $after =~ /200/g),
   'the portal saw exactly the forwarded calls');

$t->finish;

done_testing;
