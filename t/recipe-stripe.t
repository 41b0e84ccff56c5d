#!/usr/bin/perl

# Recipe "Stripe: a paid Checkout Session moves a deal", as documented.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'stripe', env => { STRIPE_HOOK_KEY => $key });

my @json = ('Content-Type' => 'application/json; charset=utf-8');

sub event {
    my ($type, $paid, $deal) = @_;
    return '{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event",'
         . '"api_version":"2023-10-16","created":1700000000,'
         . "\"type\":\"$type\",\"livemode\":false,\"data\":{\"object\":"
         . '{"id":"cs_test_a1b2","object":"checkout.session",'
         . '"amount_total":129900,"currency":"rub",'
         . "\"payment_status\":\"$paid\",\"status\":\"complete\","
         . "\"metadata\":{\"deal_id\":\"$deal\"}}}}";
}

my $r = $t->post("/hooks/stripe?key=$key",
                 event('checkout.session.completed', 'paid', 57), @json);
is($r->{status}, 200, 'paid session: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'stripe_paid' }, 'paid session: forwarded');

my $calls = $t->calls;
is(scalar @$calls, 1, 'one call');
is_deeply($calls->[0]{params}, { target => 'DEAL_57', code => 'stripe_paid' },
          'the portal got DEAL_57 and the trigger code');

$r = $t->post("/hooks/stripe?key=$key",
              event('checkout.session.completed', 'unpaid', 58), @json);
is_deeply($r->{json}, { result => 'ignored' }, 'unpaid session: ignored');

$r = $t->post("/hooks/stripe?key=$key",
              event('payment_intent.created', 'paid', 59), @json);
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');

$r = $t->post('/hooks/stripe?key=wrong',
              event('checkout.session.completed', 'paid', 57), @json);
is($r->{status}, 401, 'a wrong key: 401');

is(scalar @{ $t->calls }, 1, 'only the paid session reached the portal');

$t->finish;
$t->secret_nowhere;

done_testing;
