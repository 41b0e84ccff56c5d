#!/usr/bin/perl

# Found holding by an attacker review of "bounded work before verification" (issue 13, finding 3):
# unsigned bodies shaped for the parsers rather than for the field cap.
# Each is under b24trigger_body_max (1 MB) and, where the cap applies,
# under 1000 fields:
#
#   - T-Bank: 999 root names of 1000 bytes sharing a 990-byte prefix
#     (every comparison of the sort reads the whole name);
#   - Robokassa: 990 Shp_ pairs named the same way;
#   - T-Bank: 200,000 "[" (nesting), a 1 MB string of \u escapes, a
#     number of 1 MB digits;
#   - YooMoney: 1 MB of "&";
#   - a token read from a body field (field=): the body is parsed before
#     the token is compared, without the cap: 1 MB of [0,0,0,...].
#
# The SAFE outcome: each is refused, and 20 valid notifications sent
# meanwhile to the same single worker finish about as fast as alone (a
# comparison within this run).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(tbank_json robokassa_signature);

my $t = B24T->new;
my $tb_secret = B24T::random_secret(20);
my $rk_secret = B24T::random_secret(20);
my $ym_secret = B24T::random_secret(20);
my $token = B24T::random_secret(20);

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 1, log_level => 'info');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;

    b24trigger_field \$tb_order  OrderId;
    b24trigger_field \$rk_deal   Shp_deal;
    b24trigger_field \$ym_label  label;

    server {
        listen %%LISTEN%%;

        location = /tb {
            b24trigger_pass    main;
            b24trigger_verify  tbank;
            b24trigger_secret  "$tb_secret";
            b24trigger_target  DEAL_\$tb_order;
            b24trigger_code    tbank_paid;
        }

        location = /rk {
            b24trigger_pass    main;
            b24trigger_verify  robokassa;
            b24trigger_secret  "$rk_secret";
            b24trigger_target  DEAL_\$rk_deal;
            b24trigger_code    robokassa_paid;
        }

        location = /ym {
            b24trigger_pass    main;
            b24trigger_verify  yoomoney;
            b24trigger_secret  "$ym_secret";
            b24trigger_target  DEAL_\$ym_label;
            b24trigger_code    yoomoney_paid;
        }

        location = /tok {
            b24trigger_pass    main;
            b24trigger_verify  token field=auth.token;
            b24trigger_secret  "$token";
            b24trigger_target  DEAL_1;
            b24trigger_code    form;
        }
    }
EOF

my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

sub valid {
    my @q;
    for my $i (1 .. 10) {
        push @q, { path => '/tb', headers => \@json,
                   body => tbank_json($tb_secret,
                                      [TerminalKey => '"T"'],
                                      [OrderId => "\"$i\""],
                                      [Status => '"CONFIRMED"'],
                                      [Amount => 100 * $i]) };

        my %f = (OutSum => "$i.000000", InvId => $i, Shp_deal => $i);
        my $sig = robokassa_signature($rk_secret, \%f);
        push @q, { path => '/rk', headers => \@form,
                   body => "OutSum=$i.000000&InvId=$i&Shp_deal=$i"
                           . "&SignatureValue=$sig" };
    }
    return @q;
}

sub slowest {
    my $max = 0;
    $max = $_->{elapsed} > $max ? $_->{elapsed} : $max for @_;
    return $max;
}

my $prefix = 'k' x 990;

my %hostile = (
    'tbank, 999 long names' => ['/tb', \@json,
        '{' . join(',', map { sprintf '"%s%09d":0', $prefix, $_ }
                        reverse 1 .. 998)
        . ',"Token":"00"}'],
    'robokassa, 990 long Shp_ names' => ['/rk', \@form,
        'OutSum=1&InvId=1&SignatureValue=00&'
        . join('&', map { sprintf 'Shp_%s%05d=', $prefix, $_ }
                    reverse 1 .. 990)],
    'tbank, 200000 [' => ['/tb', \@json, '[' x 200000],
    'tbank, 1 MB of \u escapes' => ['/tb', \@json,
        '{"Token":"00","OrderId":"' . ('\u00e9' x 170000) . '"}'],
    'tbank, a 1 MB number' => ['/tb', \@json,
        '{"Token":"00","OrderId":' . ('9' x 1000000) . '}'],
    'yoomoney, 1 MB of &' => ['/ym', \@form, '&' x 1000000],
    'token field=, 1 MB of [0,0,...]' => ['/tok', \@json,
        '{"a":[' . join(',', (0) x 500000) . '],"auth":{"token":"x"}}'],
);

# the baseline: the valid ones alone (warmed up once)
$t->concurrent(valid());
my @alone = $t->concurrent(valid());
my $base = slowest(@alone);
is(scalar(grep { $_->{status} == 200 } @alone), 20, 'alone: 20 forwarded');

for my $name (sort keys %hostile) {
    my ($path, $headers, $body) = @{ $hostile{$name} };

    my @all = $t->concurrent(
        (map { { path => $path, headers => $headers, body => $body } }
         1 .. 3),
        valid());

    my @bad = splice @all, 0, 3;
    my $meanwhile = slowest(@all);

    diag(sprintf '%s (%d bytes): answered %s after %.3f s; 20 valid: '
         . '%.3f s (alone %.3f s)', $name, length $body,
         $bad[0]{status} || $bad[0]{error}, slowest(@bad), $meanwhile,
         $base);

    ok(!grep({ !$_->{status} || $_->{status} < 400 } @bad),
       "$name: refused");
    is(scalar(grep { $_->{status} == 200 } @all), 20,
       "$name: meanwhile 20 forwarded");
    cmp_ok($meanwhile, '<=', 5 * $base + 1,
           "$name: the valid ones finish about as fast as alone");
}

is(scalar @{ $t->calls }, 20 * (1 + 1 + keys %hostile),
   'the portal got the valid ones only');

$t->finish;

done_testing;
