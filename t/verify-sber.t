#!/usr/bin/perl

# b24trigger_verify sber: Sber acquiring's callback notification with a
# checksum: "checksum" = HMAC-SHA256, upper-case hex, of every other
# parameter but sign_alias, sorted by name, as "name;value;"; the
# parameters in the query string of a GET (Sber's default) or in a form
# POST.  The signer (t/lib/B24TParams.pm) follows Sber's documentation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;
use B24TParams qw(form sber_checksum);

my $t = B24T->new;
my $s1 = B24T::random_secret(24);
my $s2 = B24T::random_secret(24);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/sb', verify => 'sber', secrets => [$s1, $s2],
             extra => 'b24trigger_methods GET POST;'),
    location(path => '/sb-replay', verify => 'sber', secrets => [$s1],
             extra => 'b24trigger_methods GET POST; '
                      . 'b24trigger_replay replays;'),
));

my $r;

# the documented string: parameters sorted, "name;value;" each

my %p = (mdOrder => '3ff6962a-7dcc-4283-ab50-a6d7dd3386fe',
         orderNumber => '10747', operation => 'deposited', status => '1',
         amount => '150000');

is(join('', map { "$_;$p{$_};" } sort keys %p),
   'amount;150000;mdOrder;3ff6962a-7dcc-4283-ab50-a6d7dd3386fe;'
   . 'operation;deposited;orderNumber;10747;status;1;',
   'the signer builds the documented string');

sub query {
    my ($key, %f) = @_;
    my $sum = sber_checksum($key, \%f);
    return form((map { ($_, $f{$_}) } sort keys %f), checksum => $sum);
}

$r = $t->request('GET', '/sb?' . query($s1, %p, deal => '1'));
forwarded($t, $r, 1, 'GET, the parameters in the query');

$r = $t->request('GET', '/sb?' . query($s2, %p, deal => '2'));
forwarded($t, $r, 2, 'second secret');

$r = $t->post('/sb', query($s1, %p, deal => '3'),
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 422, 'POST form: the target from $arg_deal, empty: 422');

$r = $t->post('/sb?deal=3', query($s1, %p),
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 3, 'POST form body');

my $lower = query($s1, %p, deal => '4') =~ s/checksum=(\w+)/'checksum=' . lc $1/er;
$r = $t->request('GET', "/sb?$lower");
forwarded($t, $r, 4, 'lower-case checksum');

$r = $t->request('GET', '/sb?'
                 . query($s1, %p, deal => '5', sign_alias => 'SHA-256 key')
                 =~ s/sign_alias=[^&]*/sign_alias=other/r);
forwarded($t, $r, 5, 'sign_alias is not signed');

# refused

my $q = query($s1, %p, deal => '6');

$r = $t->request('GET', '/sb?' . ($q =~ s/amount=150000/amount=1/r));
refused($t, $r, 'signature_invalid', 'tampered amount');

$r = $t->request('GET', '/sb?' . ($q =~ s/deal=6/deal=7/r));
refused($t, $r, 'signature_invalid', 're-aimed deal');

$r = $t->request('GET', "/sb?$q&extra=1");
refused($t, $r, 'signature_invalid', 'added parameter');

$r = $t->request('GET', '/sb?' . query(B24T::random_secret(24), %p,
                                       deal => '6'));
refused($t, $r, 'signature_invalid', 'wrong key');

$r = $t->request('GET', '/sb?' . ($q =~ s/&checksum=\w+//r));
refused($t, $r, 'signature_missing', 'no checksum');

$r = $t->request('GET', '/sb?' . ($q =~ s/checksum=\w+/checksum=XYZ/r));
refused($t, $r, 'signature_invalid', 'checksum not hex');

# a name twice: the signed one or the other, who knows; refused

$r = $t->request('GET', "/sb?$q&deal=8");
is($r->{status}, 400, 'a parameter twice: 400');
is($r->{json}{error}, 'body_invalid', 'a parameter twice: body_invalid');

# a body and a query: the body's parameters only, the query does not count

$r = $t->post("/sb?deal=9&operation=refunded", query($s1, %p),
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 9, 'form body, other parameters in the query');

# the replay shield

$r = $t->request('GET', '/sb-replay?' . query($s1, %p, deal => '10'));
forwarded($t, $r, 10, 'shielded');

my $calls = scalar @{ $t->calls };
$r = $t->request('GET', '/sb-replay?' . query($s1, %p, deal => '10'));
is($r->{status}, 200, 'replayed: 200');
is($r->{json}{result}, 'duplicate', 'replayed: duplicate');
is(scalar @{ $t->calls }, $calls, 'replayed: nothing forwarded');

rejection_logged($t, '/sb', 'signature_missing', 'no "checksum" field');
rejection_logged($t, '/sb', 'signature_invalid', '"checksum" does not match');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no key, no computed checksum in any log', $s1, $s2,
               sber_checksum($s1, { %p, amount => 1, deal => 6 }));

done_testing;
