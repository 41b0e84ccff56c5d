#!/usr/bin/perl

# b24trigger_status: JSON and Prometheus text after a mixed workload, with
# exact counts, across workers and across a reload, and the version; a
# second portal and location keep series of their own.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);

$t->emulator(args => ['--deny', 'DEAL_13']);

my $conf = <<"EOF";
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/ timeout=1s;
    b24trigger_portal second http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /other {
            b24trigger_pass second;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status {
            b24trigger_status;
        }
    }
EOF

$t->nginx($conf, workers => 2);

sub workload {
    my @ok = ('X-Token' => $token);
    $t->post("/hook?id=$_", '{}', @ok) for 1 .. 5;     # forwarded
    $t->post("/other?id=$_", '{}', @ok) for 1 .. 2;    # forwarded, second
    $t->post('/hook?id=13', '{}', @ok);                 # ACCESS_DENIED
    $t->post('/hook?id=x', '{}', @ok);                  # target_invalid
    $t->post('/hook?id=1', '{}', 'X-Token' => 'bad');   # token_invalid
    $t->post('/hook?id=1', '{}');                       # signature_missing
    $t->emu_config(faults => ['hang']);
    $t->post('/hook?id=2', '{}', @ok);                  # timeout
}

workload();

# a webhook is counted in the log phase, just after its answer went out:
# wait until the last of them is

sub counted {
    my ($n) = @_;
    $t->wait_until(sub {
        my $j = $t->request('GET', '/status')->{json} or return 0;
        my $sum = 0;
        $sum += $_ for values %{ $j->{webhooks}{'/hook'} || {} };
        $sum += $_ for values %{ $j->{webhooks}{'/other'} || {} };
        return $sum == $n;
    }, 10);
}

counted(12);

my $r = $t->request('GET', '/status');
is($r->{status}, 200, 'status: 200');
is($r->{headers}{'content-type'}, 'application/json', 'status: JSON');

my $j = $r->{json};
is($j->{version}, B24T::version(), 'version: the one of debian/changelog');
is_deeply($j->{webhooks}{'/hook'},
          { forwarded => 5, failed => 2, rejected => 3 },
          'webhooks by result');
is_deeply($j->{rejections}{'/hook'},
          { target_invalid => 1, token_invalid => 1,
            signature_missing => 1 },
          'rejections by reason');
is_deeply($j->{portal_calls}{main},
          { ok => 5, ACCESS_DENIED => 1, timeout => 1 },
          'portal calls by outcome');
is($j->{portal_calls_in_flight}{main}, 0, 'nothing in flight');
is($j->{portal_latency_seconds}{main}{count}, 7, 'latency count');
cmp_ok($j->{portal_latency_seconds}{main}{sum}, '>=', 1,
       'latency sum includes the timeout');

is_deeply($j->{webhooks}{'/other'}, { forwarded => 2 },
          'the second location: its own series');
is_deeply($j->{portal_calls}{second}, { ok => 2 },
          'the second portal: its own calls');
is($j->{portal_calls_in_flight}{second}, 0,
   'the second portal: nothing in flight');
is($j->{portal_latency_seconds}{second}{count}, 2,
   'the second portal: its own latency count');
cmp_ok($j->{portal_latency_seconds}{second}{sum}, '<', 1,
       'the second portal: its own latency sum');

# Prometheus

my $p = $t->request('GET', '/status?format=prometheus');
is($p->{status}, 200, 'prometheus: 200');
like($p->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'prometheus: content type');

my $text = $p->{body};
my $v = quotemeta B24T::version();
like($text, qr/^b24trigger_info\{version="$v"\} 1$/m,
     'prometheus: version');
like($text, qr/^b24trigger_webhooks_total\{location="\/hook",result="forwarded"\} 5$/m,
     'prometheus: forwarded');
like($text, qr/^b24trigger_portal_calls_total\{portal="main",outcome="ACCESS_DENIED"\} 1$/m,
     'prometheus: portal outcome');
like($text, qr/^b24trigger_portal_latency_seconds_bucket\{portal="main",le="\+Inf"\} 7$/m,
     'prometheus: histogram');
like($text, qr/^b24trigger_portal_latency_seconds_count\{portal="main"\} 7$/m,
     'prometheus: histogram count');
like($text, qr/^b24trigger_portal_latency_seconds_bucket\{portal="second",le="\+Inf"\} 2$/m,
     'prometheus: the second portal\'s histogram');

# a strict reading of the text format

my (%type, %seen_family, @errors);
my $family = '';

for my $line (split /\n/, $text) {
    if ($line =~ /^# HELP (\w+) .+$/) {
        next;
    }
    if ($line =~ /^# TYPE (\w+) (counter|gauge|histogram|summary|untyped)$/) {
        push @errors, "family $1 twice" if $seen_family{$1}++;
        $type{$1} = $2;
        $family = $1;
        next;
    }
    if ($line =~ /^(\w+)(\{(\w+="(?:[^"\\\n]|\\[\\"n])*")(,\w+="(?:[^"\\\n]|\\[\\"n])*")*\})? (\d+(\.\d+)?)$/) {
        my $name = $1;
        my $base = $name;
        $base =~ s/_(bucket|sum|count)$//
            if ($type{$family} || '') eq 'histogram';
        push @errors, "$name outside its family $family"
            unless $base eq $family || $name eq $family;
        push @errors, "counter $name without _total"
            if ($type{$family} || '') eq 'counter' && $name !~ /_total$/;
        next;
    }
    push @errors, "bad line: $line";
}

is_deeply(\@errors, [], 'prometheus: every line well formed');

SKIP: {
    skip 'promtool (Debian package prometheus) not installed', 1
        unless `which promtool 2>/dev/null`;

    open my $fh, '>', $t->dir . '/metrics.txt' or die;
    print $fh $text;
    close $fh;

    my $out = `promtool check metrics < ${\ $t->dir}/metrics.txt 2>&1`;
    is($?, 0, 'promtool check metrics') or diag($out);
}

$p = $t->request('GET', '/status', headers => ['Accept', 'text/plain;version=0.0.4;q=0.5,*/*;q=0.1']);
like($p->{body}, qr/^# TYPE/m, 'Accept: text/plain gives the text format');

# counts survive a reload and go on

$t->emu_config(mode => 'none');
$t->reload;
$t->post('/hook?id=9', '{}', 'X-Token' => $token);

$t->post('/other?id=9', '{}', 'X-Token' => $token);

counted(14);

$j = $t->request('GET', '/status')->{json};
is($j->{webhooks}{'/hook'}{forwarded}, 6, 'counts survive a reload');
is($j->{webhooks}{'/other'}{forwarded}, 3,
   'and the second location\'s');
is_deeply($j->{portal_calls}{second}, { ok => 3 },
          'and the second portal\'s');

$t->finish;

done_testing;
