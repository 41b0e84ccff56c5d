#!/usr/bin/perl

# doc/providers/prodamus.md, "A paid order moves a deal": a paid
# notification signed as Prodamus signs it moves the deal of its
# order_num and gets "success"; an unpaid one is acknowledged and not
# forwarded; a tampered one, one signed with another key and a replay
# reach nothing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked);
use B24TParams qw(form prodamus_sign);

my $t = B24T->new;
my $key = B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'prodamus', secrets => { prodamus => $key });

sub notification {
    my (%o) = @_;
    return form(date => '2026-12-07T12:00:00+03:00', order_id => '31337',
                order_num => $o{order} || 'deal-57',
                domain => 'shop.payform.ru', sum => '990.00',
                customer_email => 'buyer@example.com',
                'products[0][name]' => 'Консультация',
                'products[0][price]' => '990.00',
                'products[0][quantity]' => '1',
                payment_status => $o{status} || 'success',
                payment_status_description => 'Успешная оплата');
}

my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');
my $body = notification();

my $r = $t->post('/hooks/prodamus', $body, @ct,
                 Sign => prodamus_sign($key, $body));
is($r->{status}, 200, 'paid: 200');
is($r->{body}, 'success', 'paid: "success"');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'prodamus_paid' },
          'paid: DEAL_57 moved');

my $unpaid = notification(status => 'order_canceled', order => 'deal-58');
$r = $t->post('/hooks/prodamus', $unpaid, @ct,
              Sign => prodamus_sign($key, $unpaid));
is($r->{status}, 200, 'cancelled: 200');
is($r->{body}, 'success', 'cancelled: "success", so Prodamus stops');
is(scalar @{ $t->calls }, 1, 'cancelled: not forwarded');

my $tampered = notification(order => 'deal-99');
$r = $t->post('/hooks/prodamus', $tampered, @ct,
              Sign => prodamus_sign($key, $body));
is($r->{status}, 401, 'another order under the signature: 401');

$r = $t->post('/hooks/prodamus', $body, @ct,
              Sign => prodamus_sign(B24T::random_secret(32), $body));
is($r->{status}, 401, 'another key: 401');

$r = $t->post('/hooks/prodamus?order_num=deal-99', $body, @ct,
              Sign => prodamus_sign($key, $body), 'X-Forwarded-For' => '1.2.3.4');
is($r->{status}, 200, 'replayed, re-aimed in the query: 200');
is($r->{body}, 'success', 'replayed: "success"');
like($t->error_log, qr/\[info\].*b24trigger: replay not forwarded/,
     'replayed: not forwarded, logged');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Prodamus key anywhere', $key);

done_testing;
