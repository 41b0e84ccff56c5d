#!/usr/bin/perl

# b24trigger_verify calendly: "Calendly-Webhook-Signature: t=<ts>,v1=<hex>",
# HMAC-SHA256 with the webhook signing key of "<t>.<raw body>"; every v1
# tried, timestamps outside the tolerance (past or future) refused; a
# replay within the tolerance is a duplicate behind b24trigger_replay.
# The signer is Digest::SHA, written from Calendly's documentation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(43);
my $s2 = B24T::random_secret(43);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/calendly', verify => 'calendly',
             secrets => [$s1, $s2], extra => 'b24trigger_replay replays;'),
    location(path => '/calendly-60s', verify => 'calendly tolerance=60s',
             secrets => [$s1]),
    location(path => '/calendly-vector', verify => 'calendly tolerance=20y',
             secrets => ['cal_key']),
));

# Calendly's "Verifying webhook signatures": v1 = HMAC-SHA256(key, "t.body")
sub v1 { hmac_sha256_hex("$_[1].$_[2]", $_[0]) }
sub header { "t=$_[1],v1=" . v1(@_) }

my $r;
my $now = time;
my $body = '{"created_at":"2026-12-07T10:00:00.000000Z","event":'
         . '"invitee.created","payload":{"uri":"https://api.calendly.com/'
         . 'scheduled_events/' . B24T::random_secret(8) . '/invitees/1",'
         . '"tracking":{"utm_content":"deal-57"}}}';

# the reference vector (webhook-signatures.md, section 3)

my $vector = 't=1700000000,v1=855187d9630bdee25f0edff2a32ee4790ddc9749450b7'
           . '9e655caecde7adf0f07';

is(header('cal_key', 1700000000, '{"id":1}'), $vector,
   'Perl computes the reference vector');

$r = $t->post('/calendly-vector?deal=1', '{"id":1}',
              'Calendly-Webhook-Signature' => $vector);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/calendly-vector?deal=1', '{"id":2}',
              'Calendly-Webhook-Signature' => $vector);
refused($t, $r, 'signature_invalid', 'reference vector, another body');

# valid, rotation, several v1

$r = $t->post('/calendly?deal=2', $body,
              'Calendly-Webhook-Signature' => header($s1, $now, $body));
forwarded($t, $r, 2, 'valid');

(my $body3 = $body) =~ s/deal-57/deal-58/;
$r = $t->post('/calendly?deal=3', $body3,
              'Calendly-Webhook-Signature' => header($s2, $now, $body3));
forwarded($t, $r, 3, 'second key');

(my $body4 = $body) =~ s/deal-57/deal-59/;
my $bad = v1('other', $now, $body4);
$r = $t->post('/calendly?deal=4', $body4,
              'Calendly-Webhook-Signature' => "t=$now,v1=$bad,v1="
                  . v1($s1, $now, $body4));
forwarded($t, $r, 4, 'a valid v1 after an invalid one');

# refused: tampered, wrong key, stale, future, malformed

(my $tampered = $body) =~ s/deal-57/deal-999/;

$r = $t->post('/calendly?deal=5', $tampered,
              'Calendly-Webhook-Signature' => header($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => header($s1, $now + 1, $body)
                  =~ s/^t=\d+/t=$now/r);
refused($t, $r, 'signature_invalid', 'timestamp changed');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => header('other', $now, $body));
refused($t, $r, 'signature_invalid', 'wrong key');

$r = $t->post('/calendly?deal=5', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => 'v1=' . v1($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'no t=');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => "t=$now");
refused($t, $r, 'signature_invalid', 'no v1=');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => "t=$now,v0="
                  . v1($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'another version');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => header($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/calendly?deal=5', $body,
              'Calendly-Webhook-Signature' => header($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

$r = $t->post('/calendly-60s?deal=5', $body,
              'Calendly-Webhook-Signature' => header($s1, $now - 90, $body));
refused($t, $r, 'timestamp_out_of_range', 'tolerance=60s, 90 s old');

# replayed within the tolerance, re-aimed: a duplicate, nothing forwarded

$r = $t->post('/calendly?deal=999', $body,
              'Calendly-Webhook-Signature' => header($s1, $now, $body));
is($r->{status}, 200, 'replay: 200');
is_deeply($r->{json}, { result => 'duplicate' }, 'replay: duplicate');
is(scalar @{ $t->calls }, 4, 'replay: nothing forwarded');

rejection_logged($t, '/calendly', 'signature_invalid',
                 '1 signature in "Calendly-Webhook-Signature", none '
                 . 'matches');
rejection_logged($t, '/calendly', 'timestamp_out_of_range',
                 qr/timestamp is 4\d\d s in the past, tolerance 300 s/);

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no signing key, no computed signature in any log',
               $s1, $s2, v1($s1, $now, $tampered), v1($s2, $now, $tampered));

done_testing;
