#!/usr/bin/perl

# nginx -t for twilio, sber, prodamus, mailgun and telegram: their
# parameters, and which variables each lets decide (Signed data only).

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

sub conf {
    my ($verify, $target, %o) = @_;
    my $fields = $o{fields} || '';
    my $extra = $o{extra} || '';
    return $t->nginx_test(<<"EOF2");
    b24trigger_portal main http://127.0.0.1:1/rest/1/x/;
    b24trigger_dedup_zone replays:1m;
    $fields
    server {
        listen 127.0.0.1:1;
        location = /h {
            b24trigger_pass main;
            b24trigger_verify $verify;
            b24trigger_secret k;
            b24trigger_replay replays;
            b24trigger_target $target;
            $extra
        }
    }
EOF2
}

sub ok_conf {
    my ($name, @a) = @_;
    my ($rc, $out) = conf(@a);
    is($rc, 0, "$name: accepted") or diag($out);
    unlike($out, qr/\[(warn|emerg)\]/, "$name: no warning");
}

sub refused_conf {
    my ($name, $re, @a) = @_;
    my ($rc, $out) = conf(@a);
    isnt($rc, 0, "$name: refused");
    like($out, $re, "$name: says why");
}

ok_conf('twilio, default url', 'twilio', 'DEAL_1');
ok_conf('twilio url= with variables',
        'twilio "url=https://hooks.example.com:8443$request_uri"', 'DEAL_1');
refused_conf('twilio, an unknown parameter',
             qr/invalid parameter "tolerance=5s" of scheme "twilio"/,
             'twilio tolerance=5s', 'DEAL_1');
refused_conf('twilio, url= twice', qr/invalid parameter "url=b"/,
             'twilio url=a url=b', 'DEAL_1');
ok_conf('twilio, a POST parameter decides', 'twilio', 'DEAL_$tw_deal',
        fields => 'b24trigger_field $tw_deal deal_id;');
refused_conf('twilio, a query argument does not',
             qr/"\$arg_deal".*does not sign/, 'twilio', 'DEAL_$arg_deal');

ok_conf('sber', 'sber', 'DEAL_$sb',
        fields => 'b24trigger_field $sb orderNumber;');
refused_conf('sber, sign_alias is not signed',
             qr/"b24trigger_target".*sb_alias/, 'sber', 'DEAL_$sb_alias',
             fields => 'b24trigger_field $sb_alias sign_alias;');
refused_conf('sber takes no tolerance',
             qr/invalid parameter "tolerance=5s" of scheme "sber"/,
             'sber tolerance=5s', 'DEAL_1');

ok_conf('prodamus, a nested field', 'prodamus', 'DEAL_$pd',
        fields => 'b24trigger_field $pd products.0.sku;');

ok_conf('mailgun tolerance=', 'mailgun tolerance=60s', 'DEAL_1');
refused_conf('mailgun, an event field does not decide',
             qr/"b24trigger_target".*mg_deal/, 'mailgun', 'DEAL_$mg_deal',
             fields => 'b24trigger_field $mg_deal event-data.id;');

ok_conf('telegram: the token vouches for the request', 'telegram',
        'DEAL_$arg_deal');
refused_conf('telegram takes no parameters',
             qr/scheme "telegram" takes no parameters/,
             'telegram header=X', 'DEAL_1');

refused_conf('an unknown scheme lists the new ones',
             qr/twilio, sber, prodamus, mailgun or telegram\)/,
             'twillio', 'DEAL_1');

done_testing;
