#!/usr/bin/perl

# Attacker review 7, re-aiming: every scheme the other tests do not walk
# (stripe, standard, cloudpayments, the public-key ones, hubspot and
# square with url=, sber, prodamus, mailgun, hmac with a signed
# timestamp), each with its target, code, dedup key, lookup or ignore
# taken from what the sender chooses beside the signature: the query
# string, the Host, a header, a cookie, the URI, the port, the method,
# the raw body as a variable, a capture of the location's regex, a geo,
# a split_clients, a map with hostnames, or a body field the scheme does
# not sign.  The SAFE outcome: nginx -t refuses each with one [emerg]
# line naming the directive and the variable; the same location with a
# signed body field passes, so the refusal is the variable's doing.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TPK;

my $t = B24T->new;
my $k = pk_keys($t);
my $dir = $t->dir . '/keys';

my %scheme = (
    stripe         => ['stripe', 'whsec_' . B24T::random_secret(16)],
    standard       => ['standard', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    cloudpayments  => ['cloudpayments', B24T::random_secret(16)],
    sendgrid       => ["sendgrid key=file:$dir/p256.pub.pem"],
    standard_v1a   => ["standard_v1a key=$k->{ed}{whpk}"],
    paddle_classic => ["paddle_classic key=file:$dir/rsa.pub.pem"],
    hubspot        => ['hubspot url=https://hooks.example.com/h',
                       B24T::random_secret(16)],
    square         => ['square url=https://hooks.example.com/h',
                       B24T::random_secret(16)],
    sber           => ['sber', B24T::random_secret(16)],
    prodamus       => ['prodamus', B24T::random_secret(16)],
    twilio         => ['twilio', B24T::random_secret(16)],
    hmac_ts        => ['hmac header=X-Sig timestamp=$http_x_ts '
                       . '"message=$http_x_ts.{body}"',
                       B24T::random_secret(16)],
);

# what the sender picks, and how the location must be written for it
my @unsigned = (
    ['$arg_deal'],
    ['$host'],
    ['$http_x_deal'],
    ['$cookie_deal'],
    ['$uri'],
    ['$server_port'],
    ['$request_method'],
    ['$request_body'],
    ['$content_length'],
    ['$1', location => '~ ^/h/([0-9]+)$'],
    ['$deal_name', location => '~ ^/h/(?<deal_name>[0-9]+)$'],
    ['$geo_deal'],
    ['$split_deal'],
    ['$host_deal'],
    ['$map_arg'],
);

my $http_extra = <<'EOF';
    geo $geo_deal { default 57; 10.0.0.0/8 999; }
    split_clients "$remote_addr" $split_deal { 50% 57; * 999; }
    map $http_host $host_deal { hostnames; default 57; *.evil.example 999; }
    map $arg_x $map_arg { default 57; ~^(?<n>[0-9]+)$ $n; }
    b24trigger_field $signed_deal deal;
EOF

sub conf {
    my ($verify, $secret, $directive, $value, %o) = @_;

    my $loc = $o{location} || '= /h';
    my $target = $directive eq 'b24trigger_target' ? "DEAL_$value" : 'DEAL_57';
    my $body = "            b24trigger_pass crm;\n"
             . "            b24trigger_verify $verify;\n"
             . ($secret ? "            b24trigger_secret \"$secret\";\n" : '')
             . "            b24trigger_replay replays;\n";

    if ($directive eq 'b24trigger_lookup') {
        $body .= "            b24trigger_lookup deal UF_CRM_X $value "
               . "zone=found;\n";
    } else {
        $body .= "            b24trigger_target $target;\n";
    }

    $body .= "            b24trigger_code $value;\n"
        if $directive eq 'b24trigger_code';
    $body .= "            b24trigger_dedup events $value;\n"
        if $directive eq 'b24trigger_dedup';
    $body .= "            b24trigger_ignore $value;\n"
        if $directive eq 'b24trigger_ignore';

    return "    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;\n"
         . "    b24trigger_dedup_zone replays:1m;\n"
         . "    b24trigger_dedup_zone events:1m;\n"
         . "    b24trigger_lookup_zone found:1m;\n"
         . $http_extra
         . "    server {\n        listen %%LISTEN%%;\n"
         . "        location $loc {\n$body        }\n    }\n";
}

$t->emulator;

my ($rc, $out);

for my $name (sort keys %scheme) {
    my ($verify, $secret) = @{ $scheme{$name} };

    # the control: a signed field passes (for the schemes that sign one)

    ($rc, $out) = $t->nginx_test(conf($verify, $secret, 'b24trigger_target',
                                      '$signed_deal'));
    is($rc, 0, "$name: a signed field passes") or diag($out);

    for my $u (@unsigned) {
        my ($var, %o) = @$u;

        for my $d ('b24trigger_target', 'b24trigger_code', 'b24trigger_dedup',
                   'b24trigger_ignore', 'b24trigger_lookup')
        {
            next if $d ne 'b24trigger_target' && $var =~ /^\$(1|deal_name)$/
                    && $d ne 'b24trigger_code';

            ($rc, $out) = $t->nginx_test(conf($verify, $secret, $d, $var, %o));
            my $n = "$name: $d $var";
            isnt($rc, 0, "$n: refused");
            like($out, qr/\[emerg\] [^"]*"\Q$d\E" in location .* uses "\$/,
                 "$n: says so") or diag($out);
        }
    }
}

$t->finish;

done_testing;
