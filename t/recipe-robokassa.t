#!/usr/bin/perl

# Recipe "Robokassa: ResultURL moves a deal", answered OK<InvId>.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'robokassa', env => { ROBOKASSA_HOOK_KEY => $key });

my $result = 'out_summ=100.000000&OutSum=100.000000&inv_id=450009'
           . '&InvId=450009&crc=D48572ED7AABD3F676BB17A6E96F1DE1'
           . '&SignatureValue=D48572ED7AABD3F676BB17A6E96F1DE1'
           . '&PaymentMethod=BankCard&IncSum=100.000000&IncCurrLabel=BankCardPSR'
           . '&EMail=client%40example.com&Fee=3.900000&Shp_deal=57';

my $r = $t->post("/hooks/robokassa/result?key=$key", $result,
                 'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 200, 'ResultURL: 200');
is($r->{body}, 'OK450009', 'ResultURL: OK<InvId>');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'robokassa_paid' },
          'the portal got DEAL_57');

$r = $t->post('/hooks/robokassa/result', $result,
              'Content-Type' => 'application/x-www-form-urlencoded');
is($r->{status}, 401, 'no key: 401, no OK');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;

done_testing;
