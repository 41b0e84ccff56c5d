#!/usr/bin/perl

# doc/providers/telegram.md, "A button moves a deal": a callback query
# with "deal:57" and the secret token moves deal 57; a message is
# acknowledged and not forwarded; the same update again is a duplicate;
# another token reaches nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $secret = B24T::random_secret(64);

$t->emulator;
B24TRecipe::run($t, 'telegram', secrets => { telegram => $secret });

my $id = 500000 + int rand 1e6;
my @json = ('Content-Type' => 'application/json');
my $h = 'X-Telegram-Bot-Api-Secret-Token';

my $button = qq({"update_id":$id,"callback_query":{"id":"4382",)
           . qq("from":{"id":1,"is_bot":false,"first_name":"A"},)
           . qq("chat_instance":"-1","data":"deal:57"}});

my $r = $t->post('/hooks/telegram', $button, @json, $h => $secret);
is($r->{status}, 200, 'button: 200');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'telegram_button' },
          'button: DEAL_57 moved');

$r = $t->post('/hooks/telegram', $button, @json, $h => $secret);
is($r->{json}{result}, 'duplicate', 'the same update again: duplicate');

my $message = '{"update_id":' . ($id + 1) . ',"message":{"message_id":1,'
            . '"date":1,"chat":{"id":1,"type":"private"},"text":"hi"}}';
$r = $t->post('/hooks/telegram', $message, @json, $h => $secret);
is($r->{json}{result}, 'ignored', 'a message: ignored');

$r = $t->post('/hooks/telegram', $button =~ s/$id/$id + 2/er, @json,
              $h => B24T::random_secret(64));
is($r->{status}, 401, 'another token: 401');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no secret token anywhere', $secret);

done_testing;
