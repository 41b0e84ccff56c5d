#!/usr/bin/perl

# b24trigger_verify slack: "X-Slack-Signature: v0=<hex>" over
# "v0:<X-Slack-Request-Timestamp>:<raw body>", HMAC-SHA256 with the
# signing secret; timestamps outside the tolerance, past or future, are
# refused; a signed url_verification is answered with its challenge and
# forwarded nowhere.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx(http_block(
    location(path => '/slack', verify => 'slack', secrets => [$s1, $s2]),
    location(path => '/slack-vector', verify => 'slack tolerance=20y',
             secrets => ['8f742231b10e8888abcd99yyyzzz85a5']),
));

sub sig { 'v0=' . hmac_sha256_hex("v0:$_[1]:$_[2]", $_[0]) }

sub headers {
    my ($secret, $ts, $body) = @_;
    return ('X-Slack-Request-Timestamp' => $ts,
            'X-Slack-Signature' => sig($secret, $ts, $body));
}

my $r;
my $now = time;
my $body = '{"type":"event_callback","event_id":"Ev' . B24T::random_secret(8)
         . '","event":{"type":"app_mention"}}';

# the official example of Slack's "Verifying requests from Slack"

my $vbody = 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain='
    . 'testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA'
    . '&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url='
    . 'https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F'
    . '96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc8'
    . '87a14d10d2c447fce8b6703c';
my $vsig = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69'
         . 'b503';

is(sig('8f742231b10e8888abcd99yyyzzz85a5', 1531420618, $vbody), $vsig,
   'Perl computes the official example');

$r = $t->post('/slack-vector?deal=1', $vbody,
              'X-Slack-Request-Timestamp' => 1531420618,
              'X-Slack-Signature' => $vsig,
              'Content-Type' => 'application/x-www-form-urlencoded');
forwarded($t, $r, 1, 'official example');

$r = $t->post('/slack-vector?deal=1', $vbody,
              'X-Slack-Request-Timestamp' => 1531420619,
              'X-Slack-Signature' => $vsig);
refused($t, $r, 'signature_invalid', 'official example, other timestamp');

$r = $t->post('/slack?deal=1', $vbody,
              'X-Slack-Request-Timestamp' => 1531420618,
              'X-Slack-Signature' => $vsig);
refused($t, $r, 'signature_invalid', 'official example, other secrets');

# valid, rotation

$r = $t->post('/slack?deal=2', $body, headers($s1, $now, $body));
forwarded($t, $r, 2, 'valid');

$r = $t->post('/slack?deal=3', $body, headers($s2, $now, $body));
forwarded($t, $r, 3, 'second secret');

# refused

(my $tampered = $body) =~ s/app_mention/message/;

$r = $t->post('/slack?deal=4', $tampered, headers($s1, $now, $body));
refused($t, $r, 'signature_invalid', 'tampered body');

$r = $t->post('/slack?deal=4', $body, headers('other', $now, $body));
refused($t, $r, 'signature_invalid', 'wrong secret');

$r = $t->post('/slack?deal=4', $body);
refused($t, $r, 'signature_missing', 'no headers');

$r = $t->post('/slack?deal=4', $body,
              'X-Slack-Signature' => sig($s1, $now, $body));
refused($t, $r, 'signature_missing', 'no timestamp header');

$r = $t->post('/slack?deal=4', $body, 'X-Slack-Request-Timestamp' => $now,
              'X-Slack-Signature' => 'v1='
                  . hmac_sha256_hex("v0:$now:$body", $s1));
refused($t, $r, 'signature_invalid', 'other version');

$r = $t->post('/slack?deal=4', $body, headers($s1, $now - 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'stale timestamp');

$r = $t->post('/slack?deal=4', $body, headers($s1, $now + 400, $body));
refused($t, $r, 'timestamp_out_of_range', 'future timestamp');

# url_verification: signed, answered here with the challenge

my $challenge = '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P';
my $hs = '{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"' . $challenge
       . '","type":"url_verification"}';

$r = $t->post('/slack?deal=5', $hs, headers($s1, $now, $hs),
              'Content-Type' => 'application/json');
is($r->{status}, 200, 'url_verification: 200');
like($r->{headers}{'content-type'}, qr{^application/json},
     'url_verification: JSON');
is_deeply($r->{json}, { challenge => $challenge },
          'url_verification: the challenge echoed');
is(scalar @{ $t->calls }, 3, 'url_verification: nothing forwarded');

$r = $t->post('/slack?deal=5', $hs);
refused($t, $r, 'signature_missing', 'unsigned url_verification');

$r = $t->post('/slack?deal=5', $hs, headers('other', $now, $hs));
refused($t, $r, 'signature_invalid', 'url_verification, wrong secret');

$r = $t->post('/slack?deal=5', $hs, headers($s1, $now - 400, $hs));
refused($t, $r, 'timestamp_out_of_range', 'stale url_verification');

# an event that merely mentions url_verification is an event

my $ev = '{"type":"event_callback","event":{"text":"url_verification"}}';
$r = $t->post('/slack?deal=6', $ev, headers($s1, $now, $ev));
forwarded($t, $r, 6, 'event mentioning url_verification');

like($t->error_log, qr/\[info\] .*slack url_verification answered/,
     'handshake logged');
rejection_logged($t, '/slack', 'signature_missing',
                 'no "X-Slack-Request-Timestamp" header');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret, no computed signature in any log',
               $s1, $s2, '8f742231b10e8888abcd99yyyzzz85a5',
               sig($s1, $now, $tampered), sig($s2, $now, $tampered));

done_testing;
