#!/usr/bin/perl

# b24trigger_verify zoom: "x-zm-signature: v0=<hex>", HMAC-SHA256 with the
# Secret Token of "v0:<x-zm-request-timestamp>:<raw body>"; timestamps
# outside the tolerance refused.  A validly signed endpoint.url_validation
# is answered by nginx with {"plainToken":..,"encryptedToken":
# hex HMAC-SHA256(secret, plainToken)}, with the secret that verified it,
# and never forwarded; an unsigned, stale or wrongly keyed one is refused.
# The signer is Digest::SHA, written from Zoom's documentation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;
use Encode ();

my $t = B24T->new;
my $s1 = B24T::random_secret(22);
my $s2 = B24T::random_secret(22);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/zoom', verify => 'zoom', secrets => [$s1, $s2],
             extra => 'b24trigger_replay replays;'),
    location(path => '/zoom-vector', verify => 'zoom tolerance=20y',
             secrets => ['zm_secret']),
));

sub sig { 'v0=' . hmac_sha256_hex("v0:$_[1]:$_[2]", $_[0]) }

sub headers {
    my ($secret, $ts, $body) = @_;
    return ('x-zm-request-timestamp' => $ts,
            'x-zm-signature' => sig($secret, $ts, $body),
            'Content-Type' => 'application/json');
}

my $r;
my $now = time;
my $body = '{"event":"meeting.started","event_ts":' . $now . '123,'
         . '"payload":{"account_id":"' . B24T::random_secret(8) . '",'
         . '"object":{"id":"85746065","topic":"Deal 57: kick-off"}}}';

# the reference vectors (webhook-signatures.md, section 3)

my $vsig = 'v0=75fb0177c619e989e86ad2ce1b1c6b3ef7f54a42b72c1b38481b53f3606'
         . 'a1b2e';
is(sig('zm_secret', 1700000000, '{"id":1}'), $vsig,
   'Perl computes the reference vector');

$r = $t->post('/zoom-vector?deal=1', '{"id":1}',
              'x-zm-request-timestamp' => 1700000000,
              'x-zm-signature' => $vsig);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/zoom-vector?deal=1', '{"id":1}',
              'x-zm-request-timestamp' => 1700000001,
              'x-zm-signature' => $vsig);
refused($t, $r, 'signature_invalid', 'reference vector, other timestamp');

# valid, rotation

$r = $t->post('/zoom?deal=2', $body, headers($s1, $now, $body));
forwarded($t, $r, 2, 'valid');

(my $body3 = $body) =~ s/85746065/85746066/;
$r = $t->post('/zoom?deal=3', $body3, headers($s2, $now, $body3));
forwarded($t, $r, 3, 'second secret');

# refused

(my $tampered = $body) =~ s/Deal 57/Deal 999/;

$r = $t->post('/zoom?deal=4', $tampered, headers($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/zoom?deal=4', $body, headers('other', $now, $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/zoom?deal=4', $body);
refused($t, $r, 'signature_missing', 'no headers');

$r = $t->post('/zoom?deal=4', $body,
              'x-zm-signature' => sig($s1, $now, $body));
refused($t, $r, 'signature_missing', 'no timestamp header');

$r = $t->post('/zoom?deal=4', $body, 'x-zm-request-timestamp' => $now,
              'x-zm-signature' => hmac_sha256_hex("v0:$now:$body", $s1));
refused($t, $r, 'signature_invalid', 'no v0= prefix');

$r = $t->post('/zoom?deal=4', $body, headers($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/zoom?deal=4', $body, headers($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

$r = $t->post('/zoom?deal=4', $body, headers($s1, $now . '000', $body));
refused($t, $r, 'signature_invalid', 'a timestamp in milliseconds');

# replayed within the tolerance, re-aimed: a duplicate

$r = $t->post('/zoom?deal=999', $body, headers($s1, $now, $body));
is_deeply($r->{json}, { result => 'duplicate' }, 'replay: duplicate');
is(scalar @{ $t->calls }, 3, 'replay: nothing forwarded');

# endpoint.url_validation: answered here, with the secret that signed it

sub validation {
    my ($token) = @_;
    return '{"payload":{"plainToken":"' . $token . '"},"event_ts":'
           . $now . '000,"event":"endpoint.url_validation"}';
}

my $vt = 'qgg8vlvZRS6UYooatFL8Aw';
my $vtoken = 'ee6cf38f4101e28a6b5dfd5f98ad42a5393f82223f89646ab149b4feff9d'
           . '041f';
is(hmac_sha256_hex($vt, 'zm_secret'), $vtoken,
   'Perl computes the reference encryptedToken');

my $hs = validation($vt);

$r = $t->post('/zoom-vector?deal=5', $hs, headers('zm_secret', $now, $hs));
is($r->{status}, 200, 'url_validation: 200');
like($r->{headers}{'content-type'}, qr{^application/json},
     'url_validation: JSON');
is_deeply($r->{json}, { plainToken => $vt, encryptedToken => $vtoken },
          'url_validation: the reference encryptedToken');

my $token = B24T::random_secret(22);
$hs = validation($token);

$r = $t->post('/zoom?deal=5', $hs, headers($s1, $now, $hs));
is_deeply($r->{json}, { plainToken => $token,
                        encryptedToken => hmac_sha256_hex($token, $s1) },
          'url_validation: answered with the first secret');

$r = $t->post('/zoom?deal=5', $hs, headers($s2, $now, $hs));
is_deeply($r->{json}, { plainToken => $token,
                        encryptedToken => hmac_sha256_hex($token, $s2) },
          'url_validation signed with the second secret: answered with it');

my $odd = 'a\"b\\\\c\u00e9\u0000</';
$hs = validation($odd);
$r = $t->post('/zoom?deal=5', $hs, headers($s1, $now, $hs));
my $decoded = "a\"b\\c\x{e9}\x{0}</";
my $bytes = Encode::encode('UTF-8', $decoded);
is_deeply($r->{json}, { plainToken => $bytes,
                        encryptedToken => hmac_sha256_hex($bytes, $s1) },
          'url_validation: an escaped plainToken, decoded and escaped back');

$hs = '{"event":"endpoint.url_validation","payload":{}}';
$r = $t->post('/zoom?deal=5', $hs, headers($s1, $now, $hs));
is($r->{status}, 200, 'url_validation without a plainToken: 200');
is_deeply($r->{json}, { result => 'ignored' },
          'url_validation without a plainToken: ignored');

is(scalar @{ $t->calls }, 3, 'url_validation: nothing forwarded');

$hs = validation($token);

$r = $t->post('/zoom?deal=5', $hs);
refused($t, $r, 'signature_missing', 'unsigned url_validation');

$r = $t->post('/zoom?deal=5', $hs, headers('other', $now, $hs));
refused($t, $r, 'signature_invalid', 'url_validation, wrong secret');

$r = $t->post('/zoom?deal=5', $hs, headers($s1, $now - 400, $hs));
refused($t, $r, 'timestamp_out_of_range', 'stale url_validation');

(my $hs2 = $hs) =~ s/$token/xxxx/;
$r = $t->post('/zoom?deal=5', $hs2, headers($s1, $now, $hs));
refused($t, $r, 'signature_invalid', 'url_validation, token changed');

# an event that merely mentions url_validation is an event

my $ev = '{"event":"meeting.ended","payload":{"object":{"topic":'
       . '"endpoint.url_validation"},"plainToken":"x"}}';
$r = $t->post('/zoom?deal=6', $ev, headers($s1, $now, $ev));
forwarded($t, $r, 6, 'an event mentioning url_validation');

# the event is read from the body: one that is not JSON reaches nothing

$r = $t->post('/zoom?deal=7', 'hello', headers($s1, $now, 'hello'));
is($r->{status}, 400, 'signed, not JSON: 400');
is($r->{json}{error}, 'body_invalid', 'signed, not JSON: body_invalid');
is(scalar @{ $t->calls }, 4, 'signed, not JSON: nothing forwarded');

like($t->error_log,
     qr/\[info\] .*b24trigger: zoom endpoint\.url_validation answered/,
     'the answer logged');
like($t->error_log,
     qr/\[info\] .*url_validation without a usable plainToken ignored/,
     'the one without a token logged');
rejection_logged($t, '/zoom', 'signature_missing',
                 'no "x-zm-request-timestamp" header');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no secret token, no computed signature in any log',
               $s1, $s2, sig($s1, $now, $tampered), sig($s2, $now, $hs2));

done_testing;
