#!/usr/bin/perl

# doc/providers/mailgun.md, "A delivered message moves a deal": a fresh
# signed event moves the deal of its user variable; a stale one, one
# signed with another key and the same token again (even around another
# deal, which Mailgun does not sign) reach nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TParams qw(mailgun_signature);

my $t = B24T->new;
my $key = B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'mailgun', secrets => { mailgun => $key });

sub event {
    my ($k, %o) = @_;
    my $ts = $o{ts} || time;
    my $token = $o{token} || B24T::random_secret(50);
    my $sig = mailgun_signature($k, $ts, $token);
    my $deal = $o{deal} || '57';
    return qq({"signature":{"timestamp":"$ts","token":"$token",)
         . qq("signature":"$sig"},"event-data":{"event":"delivered",)
         . qq("user-variables":{"deal":"$deal"}}});
}

my @json = ('Content-Type' => 'application/json');
my $path = '/hooks/mailgun/delivered';
my $token = B24T::random_secret(50);
my $ts = time;

my $r = $t->post($path, event($key, token => $token, ts => $ts), @json);
is($r->{status}, 200, 'delivered: 200');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'mailgun_delivered' },
          'delivered: DEAL_57 moved');

$r = $t->post($path, event($key, token => $token, ts => $ts, deal => '99'),
              @json);
is($r->{json}{result}, 'duplicate',
   'the same token around another deal: duplicate');

$r = $t->post($path, event($key, ts => time - 3600), @json);
is($r->{status}, 401, 'an hour old: 401');
is($r->{json}{error}, 'timestamp_out_of_range', 'timestamp_out_of_range');

$r = $t->post($path, event(B24T::random_secret(32)), @json);
is($r->{status}, 401, 'another key: 401');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Mailgun key anywhere', $key);

done_testing;
