#!/usr/bin/perl

# b24trigger_verify hmac: the generic scheme for providers without a
# preset.  alg, header, prefix, encoding; message= a complex value in which
# {body} stands for the raw body; timestamp= and tolerance=.  Written out
# here for Intercom, Zoom, Square and HubSpot v3, with their vectors.
# Keys around and beyond the hash's block (64 bytes, 128 for SHA-512),
# which RFC 2104 hashes first, and RFC 4231 / RFC 2202's "Jefe" vectors,
# each among rotated keys: the HMAC states are keyed once per key at
# configuration time.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha1_hex hmac_sha256_hex hmac_sha256_base64
                   hmac_sha512_hex hmac_sha512_base64);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

# keys at and across the block size of each hash
my %long = map { $_ => B24T::random_secret($_) } 64, 65, 128, 129, 200, 300;

$t->emulator;
$t->nginx(http_block(
    location(path => '/plain', verify => 'hmac header=X-Signature',
             secrets => [$s1, $s2]),
    location(path => '/sha512',
             verify => 'hmac alg=sha512 header=X-Signature encoding=base64',
             secrets => [$s1]),
    location(path => '/intercom',
             verify => 'hmac alg=sha1 header=X-Hub-Signature prefix=sha1=',
             secrets => ['ic_client_secret']),
    location(path => '/zoom',
             verify => 'hmac header=x-zm-signature prefix=v0= '
                     . '"message=v0:$http_x_zm_request_timestamp:{body}" '
                     . 'timestamp=$http_x_zm_request_timestamp',
             secrets => [$s1]),
    location(path => '/zoom-vector',
             verify => 'hmac header=x-zm-signature prefix=v0= '
                     . '"message=v0:$http_x_zm_request_timestamp:{body}" '
                     . 'timestamp=$http_x_zm_request_timestamp '
                     . 'tolerance=20y',
             secrets => ['zm_secret']),
    location(path => '/square',
             verify => 'hmac header=X-Square-Hmacsha256-Signature '
                     . 'encoding=base64 '
                     . '"message=https://example.com/webhook{body}"',
             secrets => ['asdf1234']),
    location(path => '/hubspot',
             verify => 'hmac header=X-HubSpot-Signature-v3 encoding=base64 '
                     . '"message=POSThttps://example.com/hook{body}'
                     . '$http_x_hubspot_request_timestamp"',
             secrets => ['secret']),
    location(path => '/twice',
             verify => 'hmac header=X-Signature "message={body}|{body}"',
             secrets => [$s1]),
    location(path => '/ts60',
             verify => 'hmac header=X-Signature timestamp=$http_x_ts '
                     . 'tolerance=60s "message=$http_x_ts.{body}"',
             secrets => [$s1]),
    location(path => '/keys-sha1',
             verify => 'hmac alg=sha1 header=X-Signature',
             secrets => ['Jefe', @long{64, 65, 200}]),
    location(path => '/keys-sha256',
             verify => 'hmac header=X-Signature',
             secrets => ['Jefe', @long{64, 65, 200}]),
    location(path => '/keys-sha512',
             verify => 'hmac alg=sha512 header=X-Signature',
             secrets => ['Jefe', @long{128, 129, 300}]),
));

sub pad { my $b = shift; $b .= '=' while length($b) % 4; $b }

my $r;
my $now = time;
my $body = '{"id":' . int(rand(1e9)) . ',"status":"ok"}';
(my $tampered = $body) =~ s/ok/ko/;

# the simplest: hex HMAC-SHA256 of the body, rotation

$r = $t->post('/plain?deal=1', $body,
              'X-Signature' => hmac_sha256_hex($body, $s1));
forwarded($t, $r, 1, 'plain hex');

$r = $t->post('/plain?deal=2', $body,
              'X-Signature' => hmac_sha256_hex($body, $s2));
forwarded($t, $r, 2, 'plain hex, second secret');

$r = $t->post('/plain?deal=3', $tampered,
              'X-Signature' => hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'plain hex, tampered body');

$r = $t->post('/plain?deal=3', $body,
              'X-Signature' => hmac_sha256_hex($body, 'other'));
refused($t, $r, 'signature_invalid', 'plain hex, wrong secret');

$r = $t->post('/plain?deal=3', $body);
refused($t, $r, 'signature_missing', 'plain hex, no header');

$r = $t->post('/plain?deal=3', $body,
              'X-Signature' => hmac_sha1_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'plain hex, SHA-1 length');

$r = $t->post('/sha512?deal=4', $body,
              'X-Signature' => pad(hmac_sha512_base64($body, $s1)));
forwarded($t, $r, 4, 'alg=sha512 encoding=base64');

$r = $t->post('/sha512?deal=5', $body,
              'X-Signature' => hmac_sha512_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'alg=sha512, hex instead of base64');

# Intercom: "X-Hub-Signature: sha1=<hex>" (reference vector)

my $ic = 'sha1=6e76da5ade54b8fd317d8883eb8d0d1d45dc29df';
is('sha1=' . hmac_sha1_hex('{"id":1}', 'ic_client_secret'), $ic,
   'Perl computes the Intercom vector');

$r = $t->post('/intercom?deal=5', '{"id":1}', 'X-Hub-Signature' => $ic);
forwarded($t, $r, 5, 'Intercom vector');

$r = $t->post('/intercom?deal=6', '{"id":2}', 'X-Hub-Signature' => $ic);
refused($t, $r, 'signature_invalid', 'Intercom vector, tampered');

# Zoom: "v0=" hex over "v0:<ts>:<body>", timestamp checked

my $zm = 'v0=75fb0177c619e989e86ad2ce1b1c6b3ef7f54a42b72c1b38481b53f3606a1b2e';
is('v0=' . hmac_sha256_hex('v0:1700000000:{"id":1}', 'zm_secret'), $zm,
   'Perl computes the Zoom vector');

$r = $t->post('/zoom-vector?deal=6', '{"id":1}',
              'x-zm-request-timestamp' => 1700000000,
              'x-zm-signature' => $zm);
forwarded($t, $r, 6, 'Zoom vector');

sub zoom {
    my ($secret, $ts, $b) = @_;
    return ('x-zm-request-timestamp' => $ts,
            'x-zm-signature' => 'v0=' . hmac_sha256_hex("v0:$ts:$b", $secret));
}

$r = $t->post('/zoom?deal=7', $body, zoom($s1, $now, $body));
forwarded($t, $r, 7, 'Zoom, fresh');

$r = $t->post('/zoom?deal=8', $body, zoom($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'Zoom, stale');

$r = $t->post('/zoom?deal=8', $body, zoom($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'Zoom, future');

$r = $t->post('/zoom?deal=8', $body,
              'x-zm-signature' => 'v0=' . hmac_sha256_hex("v0::$body", $s1));
refused($t, $r, 'signature_missing', 'Zoom, no timestamp header');

$r = $t->post('/zoom?deal=8', $tampered, zoom($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'Zoom, tampered');

# Square: the notification URL, then the body; base64 (official vector)

my $sq = '2kRE5qRU2tR+tBGlDwMEw2avJ7QM4ikPYD/PJ3bd9Og=';
is(pad(hmac_sha256_base64('https://example.com/webhook{"hello":"world"}',
                          'asdf1234')),
   $sq, 'Perl computes the Square vector');

$r = $t->post('/square?deal=9', '{"hello":"world"}',
              'X-Square-Hmacsha256-Signature' => $sq);
forwarded($t, $r, 9, 'Square official vector');

$r = $t->post('/square?deal=10', '{"hello":"World"}',
              'X-Square-Hmacsha256-Signature' => $sq);
refused($t, $r, 'signature_invalid', 'Square vector, tampered');

# HubSpot v3: method, URL, body, timestamp (milliseconds: signed, not
# checked against the clock here)

my $hs = 'hqBIlfEV33VJdmaT5HywrynIn3NURN7MPP8XagCfa14=';
$r = $t->post('/hubspot?deal=10', '{"a":1}',
              'X-HubSpot-Request-Timestamp' => '1700000000000',
              'X-HubSpot-Signature-v3' => $hs);
forwarded($t, $r, 10, 'HubSpot v3 vector');

$r = $t->post('/hubspot?deal=11', '{"a":1}',
              'X-HubSpot-Request-Timestamp' => '1700000000001',
              'X-HubSpot-Signature-v3' => $hs);
refused($t, $r, 'signature_invalid', 'HubSpot v3, other timestamp');

# {body} may appear more than once

$r = $t->post('/twice?deal=11', $body,
              'X-Signature' => hmac_sha256_hex("$body|$body", $s1));
forwarded($t, $r, 11, '{body} twice');

# tolerance=60s

my $ts = time - 30;
$r = $t->post('/ts60?deal=12', $body, 'X-Ts' => $ts,
              'X-Signature' => hmac_sha256_hex("$ts.$body", $s1));
forwarded($t, $r, 12, 'tolerance=60s, 30 s old');

$r = $t->post('/ts60?deal=13', $body, 'X-Ts' => $now - 90,
              'X-Signature' => hmac_sha256_hex(($now - 90) . ".$body", $s1));
refused($t, $r, 'timestamp_out_of_range', 'tolerance=60s, 90 s old');

$r = $t->post('/ts60?deal=13', $body, 'X-Ts' => 'yesterday',
              'X-Signature' => hmac_sha256_hex("yesterday.$body", $s1));
refused($t, $r, 'signature_invalid', 'timestamp not a number');

# RFC 2202 (HMAC-SHA1) and RFC 4231 (HMAC-SHA256, -SHA512), test case 2

my $jefe = 'what do ya want for nothing?';
my %rfc = (
    sha1   => 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79',
    sha256 => '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec'
            . '3843',
    sha512 => '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea25'
            . '05549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a'
            . '38bce737',
);
my %hmac = (sha1 => \&hmac_sha1_hex, sha256 => \&hmac_sha256_hex,
            sha512 => \&hmac_sha512_hex);
my %keys = (sha1 => [64, 65, 200], sha256 => [64, 65, 200],
            sha512 => [128, 129, 300]);
my $deal = 100;

for my $alg (qw(sha1 sha256 sha512)) {
    is($hmac{$alg}->($jefe, 'Jefe'), $rfc{$alg},
       "Perl computes the RFC vector of HMAC-\U$alg");

    $r = $t->post("/keys-$alg?deal=$deal", $jefe,
                  'X-Signature' => $rfc{$alg});
    forwarded($t, $r, $deal++, "RFC vector of HMAC-\U$alg\E, 1st of 4 keys");

    for my $n (@{ $keys{$alg} }) {
        $r = $t->post("/keys-$alg?deal=$deal", $body,
                      'X-Signature' => $hmac{$alg}->($body, $long{$n}));
        forwarded($t, $r, $deal++, "$alg, key of $n bytes");
    }

    # a key one byte short of a long one is another key

    for my $n (@{ $keys{$alg} }) {
        $r = $t->post("/keys-$alg?deal=$deal", $body,
                      'X-Signature' => $hmac{$alg}->($body,
                                                     substr($long{$n}, 0,
                                                            $n - 1)));
        refused($t, $r, 'signature_invalid',
                "$alg, first " . ($n - 1) . " bytes of the $n-byte key");
    }

    $r = $t->post("/keys-$alg?deal=$deal", $tampered,
                  'X-Signature' => $hmac{$alg}->($body,
                                                 $long{ $keys{$alg}[-1] }));
    refused($t, $r, 'signature_invalid', "$alg, long key, tampered body");
}

# several headers of the name: each one's signature is tried, past the
# first eight too (read in one walk, the rest one by one)

my @wrong = map { ('X-Signature' => hmac_sha256_hex($body, "other$_")) }
            1 .. 9;

$r = $t->post('/plain?deal=200', $body, @wrong[0 .. 5],
              'X-Signature' => hmac_sha256_hex($body, $s1), @wrong[6 .. 7]);
forwarded($t, $r, 200, 'the right one of five X-Signature headers');

$r = $t->post('/plain?deal=201', $body, @wrong,
              'X-Signature' => hmac_sha256_hex($body, $s2));
forwarded($t, $r, 201, 'the right one as the tenth X-Signature header');

$r = $t->post('/plain?deal=3', $body, @wrong);
refused($t, $r, 'signature_invalid', 'nine X-Signature headers, none right');

rejection_logged($t, '/plain', 'signature_invalid',
                 '9 signatures in "X-Signature", none matches');
rejection_logged($t, '/plain', 'signature_missing', 'no "X-Signature" header');
rejection_logged($t, '/zoom', 'timestamp_out_of_range');
rejection_logged($t, '/ts60', 'signature_invalid', 'malformed timestamp');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, 'ic_client_secret', 'zm_secret', 'asdf1234',
               values %long,
               hmac_sha256_hex($tampered, $s1),
               hmac_sha256_hex("v0:$now:$tampered", $s1));

done_testing;
