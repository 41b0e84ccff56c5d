#!/usr/bin/perl

# The zones of keys, b24trigger_dedup_zone and b24trigger_lookup_zone, at
# their smallest (32k) and across reloads: a reload keeps what they
# remember; a full zone evicts its oldest keys first, quietly, and keeps
# the newest, also after a reload.  A dedup key evicted is forwarded
# again; a lookup's answer evicted is asked of the portal again.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;

my $t = B24T->new;
my $key = B24T::random_secret(24);

$t->emulator(args => ['--bucket', 0]);
$t->emu_crm(items => [
                { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
            ]);

$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_dedup_zone events:32k ttl=1h;
    b24trigger_lookup_zone orders:32k;

    b24trigger_field \$order_id OrderId;
    b24trigger_field \$event_id EventId;

    server {
        listen %%LISTEN%%;

        b24trigger_verify hmac header=X-Sig;
        b24trigger_secret $key;

        location = /dedup {
            b24trigger_pass    main;
            b24trigger_target  DEAL_1;
            b24trigger_dedup   events \$event_id;
        }

        location = /deal {
            b24trigger_pass    main;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$order_id zone=orders
                               ttl=1h not_found_ttl=1h;
            b24trigger_code    paid;
        }
    }
EOF

my @json = ('Content-Type' => 'application/json');

sub hook {
    my ($path, $body) = @_;
    return $t->post($path, $body, @json,
                    'X-Sig' => hmac_sha256_hex($body, $key));
}

sub event {
    my ($id) = @_;
    my $r = hook('/dedup', qq({"EventId":"$id"}));
    return $r->{status} == 200 ? $r->{json}{result} : "status $r->{status}";
}

sub order {
    my ($id) = @_;
    return hook('/deal', qq({"OrderId":"$id"}));
}

sub lists { scalar @{ $t->calls_of('crm.item.list') } }

# a reload keeps both zones

is(event('evt_first'), 'forwarded', 'dedup: the first key forwarded');

my $r = order('1001');
is($r->{json}{target}, 'DEAL_57', 'lookup: order 1001 found');
is(lists(), 1, 'lookup: asked once');

$t->reload;

is(event('evt_first'), 'duplicate', 'dedup: after a reload, a duplicate');

$r = order('1001');
is($r->{json}{target}, 'DEAL_57', 'lookup: after a reload, DEAL_57');
is(lists(), 1, 'lookup: after a reload, the answer kept, no call');

# full: 300 keys of 200 bytes in 32k

my $long = 'k' x 200;
my $errors = 0;

for my $i (1 .. 300) {
    $errors++ unless event("$long$i") eq 'forwarded';
}

is($errors, 0, 'dedup: a full zone, 300 keys all forwarded');

my $v = '9' x 200;
$errors = 0;

for my $i (1 .. 300) {
    $r = order("$v$i");
    $errors++ unless $r->{status} == 422
                     && $r->{json}{error} eq 'target_not_found';
}

is($errors, 0, 'lookup: a full zone, 300 answers, none found');
is(lists(), 301, 'lookup: 300 values asked');

# after a reload: the newest remembered, the oldest evicted

$t->reload;

is_deeply([ map { event("$long$_") } reverse 291 .. 300 ],
          [ ('duplicate') x 10 ], 'dedup: the 10 newest keys remembered');

is_deeply([ map { event("$long$_") } 1 .. 10 ],
          [ ('forwarded') x 10 ], 'dedup: the 10 oldest keys evicted');

is(event('evt_first'), 'forwarded', 'dedup: the first key evicted');

for my $i (reverse 291 .. 300) {
    order("$v$i");
}

is(lists(), 301, 'lookup: the 10 newest answers kept, no call');

for my $i (1 .. 10) {
    order("$v$i");
}

is(lists(), 311, 'lookup: the 10 oldest answers evicted, asked again');

$r = order('1001');
is($r->{json}{target}, 'DEAL_57', 'lookup: order 1001 found again');
is(lists(), 312, 'lookup: the first answer evicted, asked again');

unlike($t->error_log, qr/no memory|\[crit\]|\[alert\]|no room/,
       'full zones: nothing in the error log');

$t->finish;

done_testing;
