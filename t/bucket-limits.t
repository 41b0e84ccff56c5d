#!/usr/bin/perl

# rate= and burst= at the edges of their numbers: a rate whose calls per
# 1000 s do not fit a machine word is refused by "nginx -t" (2^61 r/s
# came out as 0, and the first webhook divided by it); a burst so large
# that its room in microseconds does not fit 64 bits admits calls as a
# bucket without limit would, instead of refusing every one.

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

# 2^61 x 1000 is 0 modulo 2^64

my ($rc, $out) = $t->nginx_test(conf('rate=2305843009213693952r/s'));
isnt($rc, 0, 'nginx -t refuses rate=2305843009213693952r/s');
like($out, qr/invalid parameter "rate=2305843009213693952r\/s" of portal "main"/,
     'and says which parameter');

($rc, $out) = $t->nginx_test(conf('rate=9223372036854775r/s'));
is($rc, 0, 'the largest rate that fits is taken') or diag($out);

# 10^14 x 526315 us does not fit 64 bits

$t->nginx(conf('rate=2r/s burst=100000000000000 wait=0'));

my @s = map { $t->post("/sync?id=$_", '{}')->{status} } 1 .. 3;
is("@s", '200 200 200', 'burst=100000000000000: every call goes');
is(scalar @{ $t->calls }, 3, 'and reaches the portal');

$t->finish;

done_testing;
