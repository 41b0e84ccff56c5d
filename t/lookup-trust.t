#!/usr/bin/perl

# The value b24trigger_lookup looks up chooses the target as much as
# b24trigger_target does: nginx -t refuses a lookup whose value a
# query argument, a header or a map of one could choose under a scheme
# that signs the body only, and accepts a body field, a token scheme (it
# vouches for the whole request) or an operator's b24trigger_unsigned.
# At request time a captured, signed request re-aimed with ?OrderId= or a
# header looks up what was signed, nothing else.  The directive's own
# errors: no zone, an unknown entity, a phone of a deal, both a target
# and a lookup, a zone declared nowhere.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV qw(nothing_leaked);

my $t = B24T->new;
my $key = B24T::random_secret(24);

sub conf {
    my ($location, $http) = @_;
    $http ||= '';
    return <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_lookup_zone orders:1m;
    b24trigger_field \$order_id OrderId;
$http
    server {
        listen %%LISTEN%%;

        location = /deal {
            b24trigger_pass    main;
            b24trigger_code    paid;
$location
        }
    }
EOF
}

sub refused {
    my ($name, $location, $re, $http) = @_;
    my ($rc, $out) = $t->nginx_test(conf($location, $http));
    isnt($rc, 0, "$name: nginx -t refuses it");
    like($out, $re, "$name: the message") or diag($out);
    unlike($out, qr/\Q$key\E/, "$name: no secret printed");
}

sub accepted {
    my ($name, $location, $http) = @_;
    my ($rc, $out) = $t->nginx_test(conf($location, $http));
    is($rc, 0, "$name: nginx -t accepts it") or diag($out);
}

my $hmac = "b24trigger_verify hmac header=X-Sig; b24trigger_secret $key;";

# unsigned values refused at load

refused('a query argument',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$arg_order zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" in location "\/deal" uses "\$arg_order" \(a query argument\).*"b24trigger_verify hmac"/);

refused('a header',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$http_x_order zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" in location "\/deal" uses "\$http_x_order"/);

refused('a map of a query argument',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$mapped zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" in location "\/deal" uses "\$arg_o"/,
        "map \$arg_o \$mapped { default \$arg_o; }");

refused('a phone in a header',
        "$hmac b24trigger_lookup lead phone \$http_x_phone zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" in location "\/deal" uses "\$http_x_phone"/);

# accepted: signed, or vouched for, or the operator's choice

accepted('a body field under hmac',
         "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id zone=orders;");
accepted('a query argument under a token',
         "b24trigger_verify token header=X-Token; b24trigger_secret $key; "
         . "b24trigger_lookup deal UF_CRM_ORDER_ID \$arg_order zone=orders;");
accepted('b24trigger_unsigned',
         "$hmac b24trigger_unsigned \$arg_order; "
         . "b24trigger_lookup deal UF_CRM_ORDER_ID \$arg_order zone=orders;");

# the directive's own errors

refused('no zone',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" directive needs an entity, a field, a value and zone=/);
refused('no zone=, other parameters',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id ttl=1m;",
        qr/\[emerg\] (?:\d+#\d+: )?.*"b24trigger_lookup" directive needs zone=/);
refused('an unknown entity',
        "$hmac b24trigger_lookup order UF_CRM_ORDER_ID \$order_id zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?unknown entity "order" in "b24trigger_lookup"/);
refused('a deal by phone',
        "$hmac b24trigger_lookup deal phone \$order_id zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?"b24trigger_lookup deal phone": only a lead, a contact or a company/);
refused('a field with a filter operator',
        "$hmac b24trigger_lookup deal >UF_CRM_ORDER_ID \$order_id zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?invalid field ">UF_CRM_ORDER_ID"/);
refused('both a target and a lookup',
        "$hmac b24trigger_target DEAL_1; "
        . "b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id zone=orders;",
        qr/\[emerg\] (?:\d+#\d+: )?location "\/deal" has both "b24trigger_target" and "b24trigger_lookup"/);
refused('neither',
        $hmac, qr/\[emerg\] (?:\d+#\d+: )?"b24trigger_pass" in location "\/deal" needs "b24trigger_target" or "b24trigger_lookup"/);
refused('a zone declared nowhere',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id zone=nowhere;",
        qr/\[emerg\] (?:\d+#\d+: )?.*zero size shared memory zone "nowhere"/);
refused('ttl=0',
        "$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id zone=orders ttl=0;",
        qr/\[emerg\] (?:\d+#\d+: )?invalid parameter "ttl=0"/);

# at request time: a captured request re-aimed looks up what was signed

$t->emulator;
$t->emu_crm(items => [
    { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
    { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '999' },
]);
$t->nginx(conf("$hmac b24trigger_lookup deal UF_CRM_ORDER_ID \$order_id "
               . "zone=orders;"));

my $body = '{"OrderId":"1001"}';
my @signed = ('Content-Type' => 'application/json',
              'X-Sig' => hmac_sha256_hex($body, $key));

my $r = $t->post('/deal', $body, @signed);
is($r->{json}{target}, 'DEAL_57', 'signed: DEAL_57');

$r = $t->post('/deal?OrderId=999&order=999', $body, @signed,
              'X-Order' => '999');
is($r->{json}{target}, 'DEAL_57', 're-aimed with ?OrderId=999: still DEAL_57');

$r = $t->post('/deal', '{"OrderId":"999"}', @signed);
is($r->{status}, 401, 'another body with the captured signature: 401');

is(scalar grep({ ($_->{target} || '') eq 'DEAL_58' } @{ $t->calls }), 0,
   'DEAL_58 never triggered');
is(scalar grep({ ($_->{params}{filter}{'=UF_CRM_ORDER_ID'} || '') eq '999' }
               @{ $t->calls }), 0, 'order 999 never looked up');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'the hmac key nowhere', $key);

# a token vouches for the whole request: the value may come from the
# query string, and the replay shield (keyed on what a token cannot sign:
# the body, the target and the code) takes the value for the target

my $t2 = B24T->new;

$t2->emulator;
$t2->emu_crm(items => [
    { entityTypeId => 2, id => 57, UF_CRM_ORDER_ID => '1001' },
    { entityTypeId => 2, id => 58, UF_CRM_ORDER_ID => '999' },
]);
$t2->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_lookup_zone orders:1m;
    b24trigger_dedup_zone replays:1m;

    server {
        listen %%LISTEN%%;

        location = /deal {
            b24trigger_pass    main;
            b24trigger_verify  token header=X-Token;
            b24trigger_secret  $key;
            b24trigger_replay  replays;
            b24trigger_lookup  deal UF_CRM_ORDER_ID \$arg_order zone=orders;
            b24trigger_code    paid;
        }
    }
EOF

$r = $t2->post('/deal?order=1001', '{}', 'X-Token' => $key);
is($r->{json}{target}, 'DEAL_57', 'token: ?order=1001 is DEAL_57');
$r = $t2->post('/deal?order=999', '{}', 'X-Token' => $key);
is($r->{json}{target}, 'DEAL_58',
   'token: the same body for ?order=999 is no replay: DEAL_58');
$r = $t2->post('/deal?order=999', '{}', 'X-Token' => $key);
is($r->{json}{result}, 'duplicate', 'token: the same again is a replay');

$t2->finish;
$t2->secret_nowhere;

done_testing;
