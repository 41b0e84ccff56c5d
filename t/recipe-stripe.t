#!/usr/bin/perl

# doc/providers/stripe.md, "A paid Checkout Session moves a deal":
# events signed as Stripe signs them (Stripe-Signature, the whsec_ secret
# as is), a wrong signature refused.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked stripe_signature);

my $t = B24T->new;
my $secret = 'whsec_' . B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'stripe', secrets => { stripe => $secret });

sub event {
    my ($type, $paid, $deal) = @_;
    return '{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event",'
         . '"api_version":"2023-10-16","created":1700000000,'
         . "\"type\":\"$type\",\"livemode\":false,\"data\":{\"object\":"
         . '{"id":"cs_test_a1b2","object":"checkout.session",'
         . '"amount_total":129900,"currency":"rub",'
         . "\"payment_status\":\"$paid\",\"status\":\"complete\","
         . "\"metadata\":{\"deal_id\":\"$deal\"}}},"
         . '"pending_webhooks":1,"request":{"id":null,"idempotency_key":null}}';
}

# what Stripe sends: the signature is made when the request is sent
sub stripe {
    my ($body, $key) = @_;
    return $t->post('/hooks/stripe', $body,
                    'Content-Type' => 'application/json; charset=utf-8',
                    'User-Agent' => 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
                    'Stripe-Signature' => stripe_signature($key || $secret,
                                                           $body));
}

my $r = stripe(event('checkout.session.completed', 'paid', 57));
is($r->{status}, 200, 'paid session: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'stripe_paid' }, 'paid session: forwarded');

my $calls = $t->calls;
is(scalar @$calls, 1, 'one call');
is_deeply($calls->[0]{params}, { target => 'DEAL_57', code => 'stripe_paid' },
          'the portal got DEAL_57 and the trigger code');

$r = stripe(event('checkout.session.completed', 'unpaid', 58));
is_deeply($r->{json}, { result => 'ignored' }, 'unpaid session: ignored');

$r = stripe(event('payment_intent.created', 'paid', 59));
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');

$r = stripe(event('checkout.session.completed', 'paid', 57),
            'whsec_' . B24T::random_secret(32));
is($r->{status}, 401, 'signed with another secret: 401');
is_deeply($r->{json}, { error => 'signature_invalid' },
          'signed with another secret: signature_invalid');

is(scalar @{ $t->calls }, 1, 'only the paid session reached the portal');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no signing secret anywhere', $secret);

done_testing;
