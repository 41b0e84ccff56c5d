#!/usr/bin/perl

# doc/providers/yookassa.md, "A succeeded payment moves a deal": no signature,
# the published networks only, the payment.succeeded event only.  The test
# stands behind a proxy: nginx takes the address from X-Forwarded-For.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TRecipe;

my $t = B24T->new;

$t->emulator;
B24TRecipe::run($t, 'yookassa', as_written => 1, server => <<'EOF');
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
EOF

sub notification {
    my ($event, $deal) = @_;
    return '{"type":"notification",'
         . "\"event\":\"$event\",\"object\":{"
         . '"id":"22e12f66-000f-5000-8000-18db351245c7",'
         . '"status":"succeeded","paid":true,'
         . '"amount":{"value":"2.00","currency":"RUB"},'
         . '"created_at":"2018-07-18T10:51:18.139Z",'
         . "\"metadata\":{\"deal_id\":\"$deal\"},\"test\":false}}";
}

my @json = ('Content-Type' => 'application/json');

my $r = $t->post('/hooks/yookassa', notification('payment.succeeded', 57),
                 @json, 'X-Forwarded-For' => '185.71.76.10');
is($r->{status}, 200, 'from YooKassa: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'yookassa_paid' }, 'forwarded');
is($t->calls->[0]{target}, 'DEAL_57', 'the portal got DEAL_57');

$r = $t->post('/hooks/yookassa',
              notification('payment.waiting_for_capture', 57),
              @json, 'X-Forwarded-For' => '77.75.156.11');
is_deeply($r->{json}, { result => 'ignored' }, 'another event: ignored');

$r = $t->post('/hooks/yookassa', notification('payment.succeeded', 57),
              @json, 'X-Forwarded-For' => '203.0.113.5');
is($r->{status}, 403, 'from elsewhere: 403');

$r = $t->post('/hooks/yookassa', notification('payment.succeeded', 57),
              @json);
is($r->{status}, 403, 'from the proxy itself: 403');

is(scalar @{ $t->calls }, 1, 'one call in all');

like($t->error_log, qr/access forbidden by rule, client: 203\.0\.113\.5/,
     'nginx logs the refused address');

$t->finish;
$t->secret_nowhere;

done_testing;
