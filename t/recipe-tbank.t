#!/usr/bin/perl

# Recipe "T-Bank: a confirmed payment moves a deal", answered OK for every
# status.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
B24TRecipe::run($t, 'tbank', env => { TBANK_HOOK_KEY => $key });

sub notification {
    my ($status) = @_;
    return '{"TerminalKey":"1321054611234DEMO","OrderId":"57",'
         . "\"Success\":true,\"Status\":\"$status\","
         . '"PaymentId":8742591,"ErrorCode":"0","Amount":9855,'
         . '"CardId":322264,"Pan":"430000******0777","ExpDate":"1122",'
         . '"Token":"b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"}';
}

my @json = ('Content-Type' => 'application/json');

my $r = $t->post("/hooks/tbank?key=$key", notification('AUTHORIZED'), @json);
is($r->{status}, 200, 'AUTHORIZED: 200');
is($r->{body}, 'OK', 'AUTHORIZED: OK');
is(scalar @{ $t->calls }, 0, 'AUTHORIZED reached no portal');

$r = $t->post("/hooks/tbank?key=$key", notification('CONFIRMED'), @json);
is($r->{status}, 200, 'CONFIRMED: 200');
is($r->{body}, 'OK', 'CONFIRMED: OK');
is_deeply($t->calls->[0]{params}, { target => 'DEAL_57', code => 'tbank_paid' },
          'the portal got DEAL_57');

$r = $t->post('/hooks/tbank', notification('CONFIRMED'), @json);
is($r->{status}, 401, 'no key: 401');
isnt($r->{body}, 'OK', 'and no OK');

is(scalar @{ $t->calls }, 1, 'one call in all');

$t->finish;
$t->secret_nowhere;

done_testing;
