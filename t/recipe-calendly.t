#!/usr/bin/perl

# doc/providers/calendly.md: an invitee.created booked through a link
# with ?utm_content=deal-57 fires the deal's trigger; a cancellation is
# acknowledged and ignored; the same event re-aimed at another deal, an
# event signed with another key or too long ago reach nothing.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $key = B24T::random_secret(43);

$t->emulator;
B24TRecipe::run($t, 'calendly', secrets => { calendly => $key });

sub event {
    my ($event, $utm) = @_;
    return '{"created_at":"2026-12-07T10:00:00.000000Z","created_by":'
         . '"https://api.calendly.com/users/AAAA","event":"' . $event . '",'
         . '"payload":{"email":"test@example.com","name":"John Doe",'
         . '"status":"active","tracking":{"utm_campaign":null,'
         . '"utm_content":"' . $utm . '","utm_source":null}}}';
}

sub calendly {
    my ($body, %o) = @_;
    my $ts = $o{ts} || time;
    my $k = $o{key} || $key;
    return $t->post('/hooks/calendly' . ($o{query} || ''), $body,
                    'Content-Type' => 'application/json',
                    'Calendly-Webhook-Signature' => "t=$ts,v1="
                        . hmac_sha256_hex("$ts.$body", $k));
}

my $r = calendly(event('invitee.created', 'deal-57'));
is($r->{status}, 200, 'invitee.created: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'calendly_booked' }, 'forwarded to DEAL_57');

$r = calendly(event('invitee.canceled', 'deal-57'));
is_deeply($r->{json}, { result => 'ignored' }, 'invitee.canceled: ignored');

$r = calendly(event('invitee.created', 'deal-57'),
              query => '?deal=999&utm_content=deal-999');
is($r->{status}, 200, 're-aimed with a query string: 200');
is($r->{json}{target}, 'DEAL_57', 're-aimed: still DEAL_57');

$r = calendly(event('invitee.created', 'deal-58'),
              key => B24T::random_secret(43));
is($r->{status}, 401, 'another key: 401');

$r = calendly(event('invitee.created', 'deal-58'), ts => time - 200);
is($r->{status}, 401, '200 s old with tolerance=3m: 401');
is_deeply($r->{json}, { error => 'timestamp_out_of_range' },
          '200 s old: timestamp_out_of_range');

is_deeply([ map { $_->{params}{target} } @{ $t->calls } ],
          ['DEAL_57', 'DEAL_57'], 'only DEAL_57 was triggered');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no signing key anywhere', $key);

done_testing;
