#!/usr/bin/perl

# b24trigger_verify paddle: Paddle Billing's
# "Paddle-Signature: ts=<ts>;h1=<hex>[;h1=..]", HMAC-SHA256 of
# "<ts>:<raw body>"; every h1 is tried (Paddle's own SDK checks only the
# last); timestamps outside the tolerance, past or future, are refused.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = 'pdl_ntfset_' . B24T::random_secret(26);
my $s2 = 'pdl_ntfset_' . B24T::random_secret(26);

$t->emulator;
$t->nginx(http_block(
    location(path => '/paddle', verify => 'paddle', secrets => [$s1, $s2]),
    location(path => '/paddle-5s', verify => 'paddle tolerance=5s',
             secrets => [$s1]),
    location(path => '/paddle-vector', verify => 'paddle tolerance=20y',
             secrets => ['VALID_SECRET']),
));

sub h1 { hmac_sha256_hex("$_[1]:$_[2]", $_[0]) }
sub header { "ts=$_[1];h1=" . h1(@_) }

my $r;
my $now = time;
my $body = '{"event_id":"evt_' . B24T::random_secret(16)
         . '","event_type":"transaction.completed"}';

# the official vectors (paddle-node-sdk webhooks-validator tests)

my @vectors = (
    [ '{"data": ["1", "2"]}', 'ts=1698796800;h1=a300428748dce5c70e4da19bffd6'
      . '0769591ea969c99dea3105d0ec9612cf43f9' ],
    [ '{"data": "value"}', 'ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb6'
      . '9db41476595e84e1970a1b5d98f62b261' ],
);

for my $v (@vectors) {
    is(header('VALID_SECRET', 1698796800, $v->[0]), $v->[1],
       "Perl computes the vector for $v->[0]");
}

$r = $t->post('/paddle-vector?deal=1', $vectors[0][0],
              'Paddle-Signature' => $vectors[0][1]);
forwarded($t, $r, 1, 'official vector 1');

$r = $t->post('/paddle-vector?deal=2', $vectors[1][0],
              'Paddle-Signature' => $vectors[1][1]);
forwarded($t, $r, 2, 'official vector 2');

$r = $t->post('/paddle-vector?deal=3', $vectors[1][0],
              'Paddle-Signature' => $vectors[0][1]);
refused($t, $r, 'signature_invalid', 'vector of another body');

# valid, rotation

$r = $t->post('/paddle?deal=3', $body,
              'Paddle-Signature' => header($s1, $now, $body));
forwarded($t, $r, 3, 'valid');

$r = $t->post('/paddle?deal=4', $body,
              'Paddle-Signature' => header($s2, $now, $body));
forwarded($t, $r, 4, 'second secret');

# several h1: during a rotation Paddle signs with both secrets

my $good = h1($s1, $now, $body);
my $bad = h1('pdl_ntfset_other', $now, $body);

$r = $t->post('/paddle?deal=5', $body,
              'Paddle-Signature' => "ts=$now;h1=$good;h1=$bad");
forwarded($t, $r, 5, 'valid h1 before an invalid one');

$r = $t->post('/paddle?deal=6', $body,
              'Paddle-Signature' => "ts=$now;h1=$bad;h1=zz;h1=$good");
forwarded($t, $r, 6, 'valid h1 after invalid ones');

$r = $t->post('/paddle?deal=7', $body,
              'Paddle-Signature' => "ts=$now;h1=$bad;h1=$bad");
refused($t, $r, 'signature_invalid', 'only invalid h1');

# refused

(my $tampered = $body) =~ s/completed/refunded/;

$r = $t->post('/paddle?deal=7', $tampered,
              'Paddle-Signature' => header($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/paddle?deal=7', $body,
              'Paddle-Signature' => header('other', $now, $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/paddle?deal=7', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post('/paddle?deal=7', $body, 'Paddle-Signature' => "h1=$good");
refused($t, $r, 'signature_invalid', 'no ts=');

$r = $t->post('/paddle?deal=7', $body,
              'Paddle-Signature' => header($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/paddle?deal=7', $body,
              'Paddle-Signature' => header($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

$r = $t->post('/paddle-5s?deal=7', $body,
              'Paddle-Signature' => header($s1, $now - 30, $body));
refused($t, $r, 'timestamp_out_of_range', 'tolerance=5s, 30 s old');

$r = $t->post('/paddle-5s?deal=8', $body,
              'Paddle-Signature' => header($s1, time, $body));
forwarded($t, $r, 8, 'tolerance=5s, fresh');

rejection_logged($t, '/paddle', 'signature_invalid',
                 '2 signatures in "Paddle-Signature", none matches');
rejection_logged($t, '/paddle-5s', 'timestamp_out_of_range',
                 'timestamp is \d+ s in the past, tolerance 5 s');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'VALID_SECRET', h1($s1, $now, $tampered),
               h1($s2, $now, $tampered));

done_testing;
