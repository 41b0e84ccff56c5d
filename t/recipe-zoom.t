#!/usr/bin/perl

# doc/providers/zoom.md: Zoom's endpoint.url_validation, signed as Zoom
# signs it, is answered by nginx with the encryptedToken Zoom expects and
# reaches nothing; a meeting whose topic names a deal fires its trigger;
# re-aimed, it still names that deal; another secret reaches nothing.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $secret = B24T::random_secret(22);

$t->emulator;
B24TRecipe::run($t, 'zoom', secrets => { zoom => $secret });

sub zoom {
    my ($body, %o) = @_;
    my $ts = time;
    my $k = $o{secret} || $secret;
    return $t->post('/hooks/zoom' . ($o{query} || ''), $body,
                    'Content-Type' => 'application/json',
                    'x-zm-request-timestamp' => $ts,
                    'x-zm-signature' => 'v0='
                        . hmac_sha256_hex("v0:$ts:$body", $k));
}

my $token = B24T::random_secret(22);
my $r = zoom('{"payload":{"plainToken":"' . $token . '"},"event_ts":'
             . time . '000,"event":"endpoint.url_validation"}');
is($r->{status}, 200, 'url_validation: 200');
is_deeply($r->{json}, { plainToken => $token,
                        encryptedToken => hmac_sha256_hex($token, $secret) },
          'url_validation: the encryptedToken Zoom expects');
is(scalar @{ $t->calls }, 0, 'url_validation: nothing forwarded');

my $started = '{"event":"meeting.started","event_ts":1700000000000,'
            . '"payload":{"account_id":"AAAA","object":{"id":"85746065",'
            . '"topic":"Deal 57: kick-off","start_time":'
            . '"2026-12-07T10:00:00Z"}}}';

$r = zoom($started);
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'zoom_meeting' }, 'meeting.started: DEAL_57');

$r = zoom($started, query => '?deal=999');
is($r->{json}{target}, 'DEAL_57', 're-aimed: still DEAL_57');

$r = zoom($started =~ s/Deal 57/Deal 58/r, secret => 'other');
is($r->{status}, 401, 'another secret: 401');

$r = zoom('{"payload":{"plainToken":"x"},"event":"endpoint.url_validation"}',
          secret => 'other');
is($r->{status}, 401, 'url_validation with another secret: 401');

$r = zoom($started =~ s/Deal 57: kick-off/Weekly sync/r);
is($r->{status}, 422, 'a topic without a deal: 422');

is_deeply([ map { $_->{params}{target} } @{ $t->calls } ],
          ['DEAL_57', 'DEAL_57'], 'only DEAL_57 was triggered');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no secret token anywhere', $secret);

done_testing;
