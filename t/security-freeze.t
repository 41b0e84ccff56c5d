#!/usr/bin/perl

# Security review, finding 3: work done before the signature is checked.
# An unsigned body of 95,000 JSON keys to a T-Bank location and a form of
# 50,000 Shp_ pairs to a Robokassa location used to hold the only worker
# for seconds (an insertion sort of every field) and cost tens of
# megabytes (a second JSON parser).  Both are refused now, early, and 20
# valid notifications sent meanwhile finish about as fast as 20 sent
# alone, on the same single worker; the worker's peak memory grows by no
# more than a small multiple of the hostile bodies.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(nothing_leaked tbank_json robokassa_signature);

my $t = B24T->new;
my $tb_secret = B24T::random_secret(20);
my $rk_secret = B24T::random_secret(20);

$t->emulator(args => ['--bucket', 1000]);
$t->nginx(<<"EOF", workers => 1, log_level => 'info');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;

    b24trigger_field \$tb_order  OrderId;
    b24trigger_field \$rk_deal   Shp_deal;

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
    }
EOF

my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');

# 20 valid notifications, half T-Bank, half Robokassa
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

# the worker's peak resident memory, in kB
sub peak {
    my ($pid) = $t->worker_pids;
    my $s = $t->slurp("/proc/$pid/status");
    return $s =~ /^VmHWM:\s+(\d+) kB/m ? $1 : 0;
}

sub slowest {
    my $max = 0;
    $max = $_->{elapsed} > $max ? $_->{elapsed} : $max for @_;
    return $max;
}

# the hostile bodies, unsigned: about 950 KB and 500 KB

# (names in reverse order, the worst case of an insertion sort)

my $keys = '{' . join(',', map { sprintf '"%05d":0', $_ } reverse 1 .. 95000)
         . ',"Token":"00"}';
my $pairs = 'OutSum=1&InvId=1&SignatureValue=00&'
          . join('&', map { sprintf 'Shp_%05d=', $_ } reverse 1 .. 50000);

diag(sprintf 'hostile bodies: %d and %d bytes', length $keys,
     length $pairs);

# the baseline: the valid ones alone (warmed up once)

$t->concurrent(valid());

my @alone = $t->concurrent(valid());
my $base = slowest(@alone);

is(scalar(grep { $_->{status} == 200 } @alone), 20,
   'alone: all 20 forwarded');

my $peak0 = peak();

# two hostile bodies of each kind first, then the 20 valid ones

my @all = $t->concurrent(
    { path => '/tb', headers => \@json, body => $keys },
    { path => '/rk', headers => \@form, body => $pairs },
    { path => '/tb', headers => \@json, body => $keys },
    { path => '/rk', headers => \@form, body => $pairs },
    valid());

my @hostile = splice @all, 0, 4;
my $meanwhile = slowest(@all);
my $grown = peak() - $peak0;

diag(sprintf '20 valid alone: %.3f s; with the hostile bodies: %.3f s; '
     . 'hostile answered after %.3f s; worker peak memory %d kB, '
     . 'grown by %d kB', $base, $meanwhile, slowest(@hostile), $peak0,
     $grown);

for my $r (@hostile) {
    is($r->{status}, 413, 'hostile body refused: 413')
        or diag($r->{body} || $r->{error});
    is_deeply($r->{json},
              { error => 'too_many_fields',
                reason => 'more than 1000 fields' },
              'hostile body refused: too_many_fields');
}

is(scalar(grep { $_->{status} == 200 } @all), 20,
   'meanwhile: all 20 forwarded')
    or diag(join ' ', map { $_->{status} || $_->{error} } @all);

# a comparison within this run, with room for a busy machine

cmp_ok($meanwhile, '<=', 5 * $base + 1,
       'the valid ones finish about as fast as alone');

# the bodies themselves are in memory once each; what the checks add is
# small: the growth of the peak stays within twice what was sent

cmp_ok($grown, '<=', 2 * (2 * length($keys) + 2 * length($pairs)) / 1024,
       'peak memory within twice the hostile bodies');

is(scalar @{ $t->calls }, 60, 'the portal got the 60 valid ones only');

like($t->error_log,
     qr/\[info\] .*b24trigger: too many fields .*location "\/tb"/,
     'the refusal is logged at info');

$t->finish;
nothing_leaked($t, 'no secret anywhere', $tb_secret, $rk_secret);

done_testing;
