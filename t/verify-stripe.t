#!/usr/bin/perl

# b24trigger_verify stripe: "Stripe-Signature: t=<ts>,v1=<hex>[,v1=..]",
# HMAC-SHA256 of "<t>.<raw body>" with the secret string as is; any v1
# may match, v0 is ignored; timestamps outside the tolerance, past or
# future, are refused.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = 'whsec_' . B24T::random_secret(32);
my $s2 = 'whsec_' . B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/stripe', verify => 'stripe', secrets => [$s1, $s2]),
    location(path => '/stripe-5s', verify => 'stripe tolerance=5s',
             secrets => [$s1]),
    location(path => '/stripe-vector', verify => 'stripe tolerance=20y',
             secrets => ['whsec_test']),
));

sub sig {
    my ($secret, $ts, $body) = @_;
    return hmac_sha256_hex("$ts.$body", $secret);
}

sub header {
    my ($secret, $ts, $body) = @_;
    return "t=$ts,v1=" . sig($secret, $ts, $body);
}

my $body = '{"id":"evt_' . B24T::random_secret(8) . '","type":"invoice.paid"}';
my $now = time;
my $r;

# the reference vector (stripe 23.1.0 generateTestHeaderString), computed
# here too so that the Perl side is known to agree

my $vector = 't=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80'
           . 'ccc78230f3942d632925';

is(header('whsec_test', 1700000000, '{"id":"evt_1"}'), $vector,
   'Perl computes the reference vector');

$r = $t->post('/stripe-vector?deal=1', '{"id":"evt_1"}',
              'Stripe-Signature' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/stripe-vector?deal=1', '{"id":"evt_2"}',
              'Stripe-Signature' => $vector);
refused($t, $r, 'signature_invalid', 'reference vector, other body');

# checked before its timestamp: the signature, with other secrets
$r = $t->post('/stripe?deal=1', '{"id":"evt_1"}',
              'Stripe-Signature' => $vector);
refused($t, $r, 'signature_invalid', 'reference vector, other secret');

# a valid request, with either secret (rotation)

$r = $t->post('/stripe?deal=2', $body,
              'Stripe-Signature' => header($s1, $now, $body),
              'Content-Type' => 'application/json');
forwarded($t, $r, 2, 'valid');

$r = $t->post('/stripe?deal=3', $body,
              'Stripe-Signature' => header($s2, $now, $body));
forwarded($t, $r, 3, 'second secret');

# tampered body, wrong secret, no header

my $tampered = $body;
$tampered =~ s/paid/void/;

$r = $t->post('/stripe?deal=4', $tampered,
              'Stripe-Signature' => header($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/stripe?deal=4', $body,
              'Stripe-Signature' => header('whsec_other', $now, $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/stripe?deal=4', $body);
refused($t, $r, 'signature_missing', 'no header');

# the timestamp is signed: changing it breaks the signature

$r = $t->post('/stripe?deal=4', $body,
              'Stripe-Signature' => "t=" . ($now + 1) . ",v1="
                                    . sig($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'timestamp changed');

# stale and future timestamps, correctly signed

$r = $t->post('/stripe?deal=4', $body,
              'Stripe-Signature' => header($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/stripe?deal=4', $body,
              'Stripe-Signature' => header($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

$r = $t->post('/stripe?deal=5', $body,
              'Stripe-Signature' => header($s1, time - 200, $body));
forwarded($t, $r, 5, 'within the default tolerance of 300 s');

$r = $t->post('/stripe-5s?deal=6', $body,
              'Stripe-Signature' => header($s1, $now - 60, $body));
refused($t, $r, 'timestamp_out_of_range', 'tolerance=5s, 60 s old');

$r = $t->post('/stripe-5s?deal=6', $body,
              'Stripe-Signature' => header($s1, time, $body));
forwarded($t, $r, 6, 'tolerance=5s, fresh');

# several signatures: one valid among invalid ones, in any position

my $good = sig($s1, $now, $body);
my $bad = sig('whsec_other', $now, $body);

$r = $t->post('/stripe?deal=7', $body,
              'Stripe-Signature' => "t=$now,v1=potato,v1=$bad,v1=$good,"
                                    . "v0=$bad");
forwarded($t, $r, 7, 'valid v1 after invalid ones');

$r = $t->post('/stripe?deal=8', $body,
              'Stripe-Signature' => "t=$now,v1=$good,v1=$bad");
forwarded($t, $r, 8, 'valid v1 before an invalid one');

$r = $t->post('/stripe?deal=9', $body,
              'Stripe-Signature' => "t=$now,v1=$bad,v1=potato");
refused($t, $r, 'signature_invalid', 'only invalid v1');

$r = $t->post('/stripe?deal=9', $body,
              'Stripe-Signature' => "t=$now,v0=$good");
refused($t, $r, 'signature_invalid', 'only v0, even if it matches');

$r = $t->post('/stripe?deal=9', $body,
              'Stripe-Signature' => "v1=$good");
refused($t, $r, 'signature_invalid', 'no t=');

$r = $t->post('/stripe?deal=9', $body, 'Stripe-Signature' => "t=$now");
refused($t, $r, 'signature_invalid', 'no v1=');

$r = $t->post('/stripe?deal=9', $body,
              'Stripe-Signature' => "t=soon,v1=$good");
refused($t, $r, 'signature_invalid', 'timestamp not a number');

rejection_logged($t, '/stripe', 'signature_missing',
                 'no "Stripe-Signature" header');
rejection_logged($t, '/stripe', 'signature_invalid',
                 '1 signature in "Stripe-Signature", none matches');
rejection_logged($t, '/stripe', 'timestamp_out_of_range',
                 'timestamp is \d+ s in the past, tolerance 300 s');
rejection_logged($t, '/stripe', 'timestamp_out_of_range',
                 'timestamp is \d+ s in the future, tolerance 300 s');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'whsec_test', sig($s1, $now, $tampered),
               sig($s2, $now, $tampered));

done_testing;
