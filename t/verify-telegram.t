#!/usr/bin/perl

# b24trigger_verify telegram: the X-Telegram-Bot-Api-Secret-Token header
# (the secret_token given to setWebhook) compared in constant time with
# the secrets, as "token header=" compares; the update's "update_id" is
# what the replay shield remembers, so one update is forwarded once.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV;

my $t = B24T->new;

# Telegram allows A-Z, a-z, 0-9, "_" and "-", 1 to 256 characters
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/tg', verify => 'telegram', secrets => [$s1, $s2]),
    location(path => '/tg-replay', verify => 'telegram', secrets => [$s1],
             extra => 'b24trigger_replay replays;'),
    location(path => '/tg-other', verify => 'telegram', secrets => [$s2],
             extra => 'b24trigger_replay replays;'),
));

my $id = 100000 + int rand 1e6;

sub update {
    my ($n, $text) = @_;
    $text ||= '/deal 57';
    return qq({"update_id":$n,"message":{"message_id":7,"date":)
         . time . qq(,"chat":{"id":123,"type":"private"},"text":"$text"}});
}

my $h = 'X-Telegram-Bot-Api-Secret-Token';
my @json = ('Content-Type' => 'application/json');
my $r;

$r = $t->post('/tg?deal=1', update($id++), @json, $h => $s1);
forwarded($t, $r, 1, 'valid');

$r = $t->post('/tg?deal=2', update($id++), @json, $h => $s2);
forwarded($t, $r, 2, 'second secret');

$r = $t->post('/tg?deal=3', update($id++), @json,
              'x-telegram-bot-api-secret-token' => $s1);
forwarded($t, $r, 3, 'the header name in lower case');

$r = $t->post('/tg?deal=4', update($id++), @json,
              $h => B24T::random_secret(32));
refused($t, $r, 'token_invalid', 'another token');

$r = $t->post('/tg?deal=4', update($id++), @json, $h => substr($s1, 0, 31));
refused($t, $r, 'token_invalid', 'a prefix of the token');

$r = $t->post('/tg?deal=4', update($id++), @json);
refused($t, $r, 'signature_missing', 'no header');

$r = $t->post("/tg?deal=4", update($id++), @json,
              Authorization => "Bearer $s1");
refused($t, $r, 'signature_missing', 'the token elsewhere than the header');

# replays: one update_id forwarded once, whatever else changes

my $n = $id++;

$r = $t->post('/tg-replay?deal=5', update($n), @json, $h => $s1);
forwarded($t, $r, 5, 'shielded');

my $calls = scalar @{ $t->calls };

$r = $t->post('/tg-replay?deal=5', update($n), @json, $h => $s1);
is($r->{json}{result}, 'duplicate', 'the same update again: duplicate');

$r = $t->post('/tg-replay?deal=6', update($n, '/deal 58'), @json,
              $h => $s1);
is($r->{json}{result}, 'duplicate',
   'the same update_id, another message: duplicate');
is(scalar @{ $t->calls }, $calls, 'replayed: nothing forwarded');

# another bot's location in the same zone: its own update_ids

$r = $t->post('/tg-other?deal=7', update($n), @json, $h => $s2);
forwarded($t, $r, 7, 'another bot, the same update_id');

rejection_logged($t, '/tg', 'token_invalid', 'token does not match');
rejection_logged($t, '/tg', 'signature_missing', 'no token in the request');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no secret token in any log line or reply', $s1, $s2);

done_testing;
