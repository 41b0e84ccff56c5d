#!/usr/bin/perl

# b24trigger_lookup in sync mode: the shop's order number, signed in the
# body, finds the deal (crm.item.list, "=UF_CRM_ORDER_ID") and the deal is
# triggered with the configured code; a phone finds the lead
# (crm.duplicate.findbycomm).  None found: 422 target_not_found, nothing
# triggered; several: 422 target_ambiguous, never a guess; the portal's
# errors as the trigger's own (502, 503, 504); the answer kept in the zone
# for ttl= (no second call within it, one after it), "none" not kept
# unless not_found_ttl= says so; an empty value: 422, nothing asked;
# counted on the status page; no secret anywhere.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator;
$t->emu_crm(items => [
                { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
                { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '2002' },
                { entityTypeId => 2, id => 59, UF_CRM_ORDER_ID => '2002' },
                { entityTypeId => 2, id => 60, UF_CRM_ORDER_ID => '3003' },
                { entityTypeId => 2, id => 61, UF_CRM_ORDER_ID => '4004' },
                { entityTypeId => 1, id => 99, UF_CRM_ORDER_ID => '1001' },
            ],
            comms => [
                { entity_type => 'LEAD', id => 12, type => 'PHONE',
                  value => '+7 (900) 123-45-67' },
                { entity_type => 'CONTACT', id => 5, type => 'PHONE',
                  value => '+7 (900) 123-45-67' },
            ]);

$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_portal slow http://%%EMU%%/rest/1/%%SECRET%%/ timeout=1s;
    b24trigger_lookup_zone orders:1m;

    b24trigger_field \$order_id OrderId;
    b24trigger_field \$phone    phone;

    server {
        listen %%LISTEN%%;

        b24trigger_verify hmac header=X-Sig;
        b24trigger_secret $key;

        location = /deal {
            b24trigger_pass    main;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$order_id zone=orders
                               ttl=2s;
            b24trigger_code    paid;
        }

        location = /deal-nf {
            b24trigger_pass    main;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$order_id zone=orders
                               not_found_ttl=1m;
            b24trigger_code    paid;
        }

        location = /lead {
            b24trigger_pass    main;
            b24trigger_lookup  lead phone \$phone zone=orders;
            b24trigger_code    form;
        }

        location = /deal-slow {
            b24trigger_pass    slow;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$order_id zone=orders;
            b24trigger_code    paid;
        }

        location = /dry {
            b24trigger_pass    main;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$order_id zone=orders;
            b24trigger_code    paid;
            b24trigger_dry_run on;
        }

        location = /status {
            b24trigger_status;
        }
    }
EOF

my @json = ('Content-Type' => 'application/json');

sub hook {
    my ($path, $body, $k) = @_;
    return $t->post($path, $body, @json,
                    'X-Sig' => hmac_sha256_hex($body, $k || $key));
}

sub lists { scalar @{ $t->calls_of('crm.item.list') } }
sub triggers { $t->calls_of('crm.automation.trigger') }

# found

my $r = hook('/deal', '{"OrderId":"1001","Amount":100}');
is($r->{status}, 200, 'order 1001: 200');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'paid' }, 'order 1001: DEAL_57');

my $list = $t->calls_of('crm.item.list');
is(scalar @$list, 1, 'one crm.item.list call');
is_deeply($list->[0]{params}, { entityTypeId => 2,
                                filter => { '=UF_CRM_ORDER_ID' => '1001' },
                                select => ['id'],
                                useOriginalUfNames => 'Y' },
          'asked by =UF_CRM_ORDER_ID, the id only');
is_deeply([ map { [$_->{target}, $_->{code}] } @{ triggers() } ],
          [ ['DEAL_57', 'paid'] ], 'DEAL_57 triggered with code paid');

# a cache hit: no second lookup within ttl=

$r = hook('/deal', '{"OrderId":"1001","Amount":200}');
is($r->{json}{target}, 'DEAL_57', 'again: DEAL_57');
is(lists(), 1, 'again: no second crm.item.list within ttl');
is(scalar @{ triggers() }, 2, 'again: triggered');

# after ttl=, asked again

sleep 3.2;

$r = hook('/deal', '{"OrderId":"1001","Amount":300}');
is($r->{json}{target}, 'DEAL_57', 'after ttl: DEAL_57');
is(lists(), 2, 'after ttl: asked again');

# none found: 422, nothing triggered, "none" not kept by default

my $before = scalar @{ triggers() };

$r = hook('/deal', '{"OrderId":"9999"}');
is($r->{status}, 422, 'order 9999: 422');
is($r->{json}{error}, 'target_not_found', 'order 9999: target_not_found');
is(scalar @{ triggers() }, $before, 'order 9999: nothing triggered');

$r = hook('/deal', '{"OrderId":"9999"}');
is($r->{status}, 422, 'order 9999 again: 422');
is(lists(), 4, 'order 9999 again: asked again (none is not kept)');

like($t->error_log,
     qr/\[error\] .*portal "main" has no DEAL with UF_CRM_ORDER_ID "9999", location "\/deal" triggers nothing/,
     'the error log says what was not found');

# ... unless not_found_ttl=

hook('/deal-nf', '{"OrderId":"8888"}');
$r = hook('/deal-nf', '{"OrderId":"8888"}');
is($r->{json}{error}, 'target_not_found', 'not_found_ttl: 422 again');
is(lists(), 5, 'not_found_ttl: asked once');

# an order that reached the shop before the CRM is found once it is there
$t->emu_crm(items => [ { entityTypeId => 2, id => 62,
                         UF_CRM_ORDER_ID => '7777' } ]);
$r = hook('/deal', '{"OrderId":"7777"}');
is($r->{json}{target}, 'DEAL_62', 'a new order: DEAL_62');
is(lists(), 6, 'a new order: asked');

# several: never a guess

$before = scalar @{ triggers() };
$t->emu_crm(items => [
                { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '2002' },
                { entityTypeId => 2, id => 59, UF_CRM_ORDER_ID => '2002' },
                { entityTypeId => 2, id => 60, UF_CRM_ORDER_ID => '3003' },
                { entityTypeId => 2, id => 61, UF_CRM_ORDER_ID => '4004' },
            ],
            comms => [
                { entity_type => 'LEAD', id => 12, type => 'PHONE',
                  value => '+7 (900) 123-45-67' },
                { entity_type => 'CONTACT', id => 5, type => 'PHONE',
                  value => '+7 (900) 123-45-67' },
                { entity_type => 'LEAD', id => 13, type => 'PHONE',
                  value => '+7 900 000-00-01' },
                { entity_type => 'LEAD', id => 14, type => 'PHONE',
                  value => '79000000001' },
            ]);

$r = hook('/deal', '{"OrderId":"2002"}');
is($r->{status}, 422, 'order 2002 (two deals): 422');
is($r->{json}{error}, 'target_ambiguous', 'order 2002: target_ambiguous');
is(scalar @{ triggers() }, $before, 'order 2002: nothing triggered');
like($t->error_log, qr/has more than one DEAL with UF_CRM_ORDER_ID "2002"/,
     'the error log says so');

# a phone finds the lead, not the contact with the same phone

$r = hook('/lead', '{"phone":"+79001234567","name":"Ann"}');
is($r->{status}, 200, 'phone: 200') or diag($r->{body});
is($r->{json}{target}, 'LEAD_12', 'phone: LEAD_12');

my $comm = $t->calls_of('crm.duplicate.findbycomm');
is_deeply($comm->[0]{params}, { entity_type => 'LEAD', type => 'PHONE',
                                values => ['+79001234567'] },
          'crm.duplicate.findbycomm asked for a LEAD by PHONE');
is($t->calls_of('crm.automation.trigger')->[-1]{code}, 'form',
   'the lead triggered with code form');

$r = hook('/lead', '{"phone":"+7 900 000 00 01"}');
is($r->{json}{error}, 'target_ambiguous', 'a phone of two leads: 422');

$r = hook('/lead', '{"phone":"+7 999 999 99 99"}');
is($r->{json}{error}, 'target_not_found', 'an unknown phone: 422');

# nothing to look up: 422, the portal not asked

my $calls = scalar @{ $t->calls };

$r = hook('/deal', '{"Amount":100}');
is($r->{status}, 422, 'no OrderId: 422');
is($r->{json}{error}, 'lookup_value_invalid', 'no OrderId: lookup_value_invalid');
is(scalar @{ $t->calls }, $calls, 'no OrderId: nothing asked');

# a wrong signature: 401, nothing asked

$r = hook('/deal', '{"OrderId":"3003"}', 'x' . $key);
is($r->{status}, 401, 'another key: 401');
is(scalar @{ $t->calls }, $calls, 'another key: nothing asked');

# the portal's errors: as the trigger's own

$t->emu_config(faults => [ { mode => 'http500' } ]);
$r = hook('/deal', '{"OrderId":"3003"}');
is($r->{status}, 502, 'lookup answered 500: 502');
is($r->{json}{error}, 'portal_error', 'portal_error');
is($r->{json}{portal_error}, 'INTERNAL_SERVER_ERROR', 'its error code');

$t->emu_config(faults => [ { mode => 'query_limit' } ]);
$r = hook('/deal', '{"OrderId":"3003"}');
is($r->{status}, 503, 'lookup rate limited: 503');
is($r->{json}{error}, 'portal_rate_limited', 'portal_rate_limited');
ok($r->{headers}{'retry-after'}, 'with Retry-After');

# (a kept-alive connection reset is tried once more on a new one)
$t->emu_config(faults => [ { mode => 'reset' }, { mode => 'reset' } ]);
$r = hook('/deal', '{"OrderId":"3003"}');
is($r->{status}, 502, 'lookup connection reset: 502') or diag($r->{raw});
is($r->{json}{error}, 'portal_unreachable', 'portal_unreachable');

$t->emu_config(faults => [ { mode => 'garbage_200' } ]);
$r = hook('/deal', '{"OrderId":"4004"}');
is($r->{status}, 502, 'lookup answered garbage: 502');
is($r->{json}{error}, 'portal_invalid_response', 'portal_invalid_response');

$t->emu_config(faults => [ { mode => 'hang' } ]);
$r = hook('/deal-slow', '{"OrderId":"3003"}');
is($r->{status}, 504, 'lookup not answered within timeout=: 504');
is($r->{json}{error}, 'portal_timeout', 'portal_timeout');

$r = hook('/deal', '{"OrderId":"3003"}');
is($r->{json}{target}, 'DEAL_60', 'the portal back: DEAL_60');
is(scalar(grep { ($_->{params}{filter}{'=UF_CRM_ORDER_ID'} || '') eq '3003' }
          @{ $t->calls_of('crm.item.list') }), 6,
   'no error was kept in the zone: asked each time (500, 503, reset '
   . 'twice, hang, 200)');

# a dry run makes the lookup (it only reads), not the trigger

my $trig = scalar @{ triggers() };
$r = hook('/dry', '{"OrderId":"4004"}');
is($r->{status}, 200, 'dry run: 200');
is($r->{json}{target}, 'DEAL_61', 'dry run: the target found');
is(scalar @{ triggers() }, $trig, 'dry run: nothing triggered');
like($t->error_log, qr/\[warn\] .*dry run, not sent to portal "main": target "DEAL_61"/,
     'dry run: logged');

# a sender that goes away while the lookup waits for the portal (which
# takes 2 s; the lookup itself may first wait up to 1 s for the bucket,
# which the 503 above filled): the lookup is cancelled, nothing is
# triggered, nothing is left behind

$t->emu_crm(items => [
                { entityTypeId => 2, id => 63, UF_CRM_ORDER_ID => '5005' },
            ]);
$t->emu_config(latency_ms => 2000);
$t->abort_after(1.2, '/deal', '{"OrderId":"5005"}',
                'Content-Type' => 'application/json',
                'X-Sig' => hmac_sha256_hex('{"OrderId":"5005"}', $key));
sleep 3;
$t->emu_config(latency_ms => 0);
is(scalar(grep { ($_->{params}{filter}{'=UF_CRM_ORDER_ID'} || '') eq '5005' }
          @{ $t->calls_of('crm.item.list') }), 1,
   'client gone: the lookup was under way');
is(scalar @{ triggers() }, $trig, 'client gone: nothing triggered');
like($t->error_log, qr/\[info\] .*client prematurely closed connection .*request: "POST \/deal /,
     'client gone: noticed');
$r = hook('/deal', '{"OrderId":"5005"}');
is($r->{json}{target}, 'DEAL_63', 'client gone: the next one is served');

# counted

$r = $t->request('GET', '/status');
my $s = $r->{json};
cmp_ok($s->{lookup_calls}{main}{found} || 0, '>=', 5, 'lookups found counted');
cmp_ok($s->{lookup_calls}{main}{not_found} || 0, '>=', 3,
       'lookups not found counted');
cmp_ok($s->{lookup_calls}{main}{ambiguous} || 0, '>=', 2,
       'ambiguous lookups counted');
cmp_ok($s->{lookup_calls}{main}{failed} || 0, '>=', 4,
       'failed lookups counted');
is($s->{lookup_cache_hits}{main}{found}, 1, 'one cache hit of a found deal');
is($s->{lookup_cache_hits}{main}{not_found}, 1,
   'one cache hit of none found');
is($s->{rejections}{'/deal'}{target_not_found}, 2,
   'rejections: target_not_found');

$r = $t->request('GET', '/status?format=prometheus');
like($r->{body}, qr/^b24trigger_lookup_calls_total\{portal="main",answer="found"\} \d+$/m,
     'Prometheus: b24trigger_lookup_calls_total');
like($r->{body}, qr/^b24trigger_lookup_cache_hits_total\{portal="main",answer="found"\} 1$/m,
     'Prometheus: b24trigger_lookup_cache_hits_total');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'the hmac key nowhere', $key);

done_testing;
