#!/usr/bin/perl

# b24trigger_verify intercom: "X-Hub-Signature: sha1=<hex>", HMAC-SHA1 with
# the app's client secret of the raw body.  Intercom signs no timestamp:
# behind b24trigger_replay a notification is forwarded once, known by its
# signed "id", so that a redelivery (Intercom counts "delivery_attempts" in
# the body, and signs it anew) is a duplicate too.  The signer is
# Digest::SHA, written from Intercom's documentation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha1_hex hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(36);
my $s2 = B24T::random_secret(36);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/intercom', verify => 'intercom',
             secrets => [$s1, $s2], extra => 'b24trigger_replay replays;'),
    location(path => '/intercom-vector', verify => 'intercom',
             secrets => ['ic_client_secret']),
));

sub sig { 'sha1=' . hmac_sha1_hex($_[1], $_[0]) }

sub notification {
    my ($id, $attempt, $contact) = @_;
    return '{"type":"notification_event","app_id":"abc123","data":{"type":'
         . '"notification_event_data","item":{"type":"contact","id":"'
         . $contact . '","custom_attributes":{"b24_contact":"69"}}},'
         . '"links":{},"id":"' . $id . '","topic":"contact.user.created",'
         . '"delivery_status":"pending","delivery_attempts":' . $attempt
         . ',"delivered_at":0,"first_sent_at":1700000000,'
         . '"created_at":1700000000,"self":null}';
}

sub post {
    my ($path, $body, $secret, @more) = @_;
    return $t->post($path, $body, 'Content-Type' => 'application/json',
                    defined $secret ? ('X-Hub-Signature' => sig($secret,
                                                                $body))
                                    : (),
                    @more);
}

my $r;
my $id = 'notif_' . B24T::random_secret(12);
my $body = notification($id, 1, 'c1');

# the reference vector (webhook-signatures.md, section 3)

my $vsig = 'sha1=6e76da5ade54b8fd317d8883eb8d0d1d45dc29df';
is(sig('ic_client_secret', '{"id":1}'), $vsig,
   'Perl computes the reference vector');

$r = $t->post('/intercom-vector?deal=1', '{"id":1}',
              'X-Hub-Signature' => $vsig);
forwarded($t, $r, 1, 'reference vector');

$r = $t->post('/intercom-vector?deal=1', '{"id":2}',
              'X-Hub-Signature' => $vsig);
refused($t, $r, 'signature_invalid', 'reference vector, another body');

# valid, rotation

$r = post('/intercom?deal=2', $body, $s1);
forwarded($t, $r, 2, 'valid');

my $id3 = 'notif_' . B24T::random_secret(12);
$r = post('/intercom?deal=3', notification($id3, 1, 'c3'), $s2);
forwarded($t, $r, 3, 'second secret');

# refused

(my $tampered = $body) =~ s/"69"/"999"/;

$r = post('/intercom?deal=4', $tampered, undef,
          'X-Hub-Signature' => sig($s1, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = post('/intercom?deal=4', $body, 'other');
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = post('/intercom?deal=4', $body);
refused($t, $r, 'signature_missing', 'no header');

$r = post('/intercom?deal=4', $body, undef,
          'X-Hub-Signature' => hmac_sha1_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'no sha1= prefix');

$r = post('/intercom?deal=4', $body, undef,
          'X-Hub-Signature' => 'sha256=' . hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_invalid', 'sha256= instead');

$r = post('/intercom?deal=4', $body, undef,
          'X-Hub-Signature-256' => 'sha256=' . hmac_sha256_hex($body, $s1));
refused($t, $r, 'signature_missing', 'only X-Hub-Signature-256');

# replays: the same bytes, and the same notification redelivered

$r = post('/intercom?deal=999', $body, $s1);
is_deeply($r->{json}, { result => 'duplicate' },
          'the same request again, re-aimed: duplicate');

$r = post('/intercom?deal=998', notification($id, 2, 'c1'), $s1);
is_deeply($r->{json}, { result => 'duplicate' },
          'the notification redelivered (delivery_attempts 2): duplicate');

$r = post('/intercom?deal=997', notification($id, 3, 'c1'), $s2);
is_deeply($r->{json}, { result => 'duplicate' },
          'redelivered, signed with the second secret: duplicate');

is(scalar @{ $t->calls }, 3, 'replays: nothing forwarded');

my $id5 = 'notif_' . B24T::random_secret(12);
$r = post('/intercom?deal=5', notification($id5, 1, 'c1'), $s1);
forwarded($t, $r, 5, 'another notification');

# without an id: the signed bytes are the key

my $noid = '{"type":"notification_event","topic":"ping","data":{}}';
$r = post('/intercom?deal=6', $noid, $s1);
forwarded($t, $r, 6, 'no id');

$r = post('/intercom?deal=996', $noid, $s1);
is_deeply($r->{json}, { result => 'duplicate' }, 'no id, replayed: duplicate');
is(scalar @{ $t->calls }, 5, 'no id, replayed: nothing forwarded');

# the notification id is read from the body: one that is not JSON,
# signed or not, cannot be read and reaches nothing

$r = post('/intercom?deal=7', 'hello', $s1);
is($r->{status}, 400, 'signed, not JSON: 400');
is($r->{json}{error}, 'body_invalid', 'signed, not JSON: body_invalid');
is(scalar @{ $t->calls }, 5, 'signed, not JSON: nothing forwarded');

rejection_logged($t, '/intercom', 'signature_missing',
                 'no "X-Hub-Signature" header');
like($t->error_log,
     qr/\[info\] .*b24trigger: replay not forwarded: location "\/intercom"/,
     'replays logged');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no client secret, no computed signature in any log',
               $s1, $s2, sig($s1, $tampered), sig($s2, $tampered));

done_testing;
