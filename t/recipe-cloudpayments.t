#!/usr/bin/perl

# Recipe "CloudPayments: the Pay notification moves a deal", with the
# {"code":0} reply.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'cloudpayments',
                env => { CLOUDPAYMENTS_HOOK_KEY => $key });

my $pay = 'TransactionId=1211506522&Amount=129900.00&Currency=RUB'
        . '&PaymentAmount=129900.00&PaymentCurrency=RUB'
        . '&DateTime=2023-11-14+22%3A13%3A20&CardFirstSix=424242'
        . '&CardLastFour=4242&CardType=Visa&CardExpDate=12%2F25'
        . '&TestMode=1&Status=Completed&OperationType=Payment'
        . '&InvoiceId=57&AccountId=client%40example.com'
        . '&Data=%7B%22deal%22%3A57%7D';

my $r = $t->post("/hooks/cloudpayments/pay?key=$key", $pay,
                 'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'Pay: 200');
is($r->{body}, '{"code":0}', 'Pay: {"code":0}');
is($r->{headers}{'content-type'}, 'application/json', 'as JSON');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'cloudpayments_paid' },
          'the portal got DEAL_57');

$r = $t->post('/hooks/cloudpayments/pay?key=wrong', $pay,
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 401, 'a wrong key: 401');
isnt($r->{body}, '{"code":0}', 'and no {"code":0}');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;

done_testing;
