#!/usr/bin/perl

# doc/providers/cloudpayments.md, "The Pay notification moves a deal", with
# the {"code":0} reply; the notification signed as CloudPayments signs it
# (Content-HMAC and X-Content-HMAC, the API Secret), a wrong signature refused
# without {"code":0}; the notification captured and sent again, with a query
# string and other headers, is acknowledged and not forwarded a second time
# (the replay shield).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;
use B24TV qw(nothing_leaked cloudpayments_hmac);

my $t = B24T->new;
my $secret = B24T::random_secret(32);

$t->emulator;
B24TRecipe::run($t, 'cloudpayments',
                secrets => { cloudpayments => $secret });

my $pay = 'TransactionId=1211506522&Amount=129900.00&Currency=RUB'
        . '&PaymentAmount=129900.00&PaymentCurrency=RUB'
        . '&DateTime=2023-11-14+22%3A13%3A20&CardFirstSix=424242'
        . '&CardLastFour=4242&CardType=Visa&CardExpDate=12%2F25'
        . '&TestMode=1&Status=Completed&OperationType=Payment'
        . '&InvoiceId=57&AccountId=client%40example.com'
        . '&Data=%7B%22deal%22%3A57%7D';

# Content-HMAC over the raw body (as the official SDK checks it);
# X-Content-HMAC, said to differ only in the URL encoding of the signed
# bytes, over the decoded body: a match in either passes
sub cloudpayments {
    my ($body, $key, $query, @extra) = @_;
    (my $decoded = $body) =~ tr/+/ /;
    $decoded =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $t->post('/hooks/cloudpayments/pay' . ($query || ''), $body,
                    @extra,
                    'Content-Type' => 'application/x-www-form-urlencoded',
                    'Content-HMAC' => cloudpayments_hmac($key, $body),
                    'X-Content-HMAC' => cloudpayments_hmac($key, $decoded));
}

my $r = cloudpayments($pay, $secret);
is($r->{status}, 200, 'Pay: 200');
is($r->{body}, '{"code":0}', 'Pay: {"code":0}');
is($r->{headers}{'content-type'}, 'application/json', 'as JSON');
is_deeply($t->calls->[0]{params},
          { target => 'DEAL_57', code => 'cloudpayments_paid' },
          'the portal got DEAL_57');

$r = cloudpayments($pay, B24T::random_secret(32));
is($r->{status}, 401, 'signed with another secret: 401');
is_deeply($r->{json}, { error => 'signature_invalid' },
          'signed with another secret: signature_invalid');
isnt($r->{body}, '{"code":0}', 'and no {"code":0}');

$r = cloudpayments($pay, $secret, '?InvoiceId=999',
                   'X-Forwarded-For' => '192.0.2.9');
is($r->{status}, 200, 'Pay replayed: 200');
is($r->{body}, '{"code":0}', 'Pay replayed: {"code":0}, CloudPayments stops');
like($t->error_log, qr/\[info\].*b24trigger: replay not forwarded/,
     'Pay replayed: not forwarded, logged');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no API secret anywhere', $secret);

done_testing;
