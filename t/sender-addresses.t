#!/usr/bin/perl

# The sender address snippets (senders/*.conf) and the script that makes
# them (tools/sender-addresses.py): the script reads the providers'
# published lists in their formats (Stripe's ips_webhooks.json and .txt,
# GitHub's /meta "hooks", documentation pages) from saved copies
# (t/data/senders/), writes "allow" lines under a header naming the
# source and the date, and refuses a list that would allow what no
# sender is (nothing found, a private or loopback address, 0.0.0.0/0, a
# network too wide), writing nothing for it; the shipped snippets are
# exactly what it makes of the saved copies; every snippet loads in
# "nginx -t", holds nothing but "allow" lines and comments, and with
# "deny all" after it refuses everyone else (403, nothing forwarded).

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use B24T;

my $ROOT = $B24T::ROOT;
my $SCRIPT = "$ROOT/tools/sender-addresses.py";
my $DATA = "$ROOT/t/data/senders";

my $t = B24T->new;
my $out = $t->dir . '/senders';

sub run_script {
    my (@args) = @_;
    my $cmd = join ' ', map { "'$_'" } $SCRIPT, @args;
    my $text = `$cmd 2>&1`;
    return ($? >> 8, $text);
}

sub slurp { B24T->slurp($_[0]) }

# the shipped snippets are the script's output of the saved copies, as
# senders/README.md says

my $readme = slurp("$ROOT/senders/README.md");
my ($cmd) = $readme =~ /^(tools\/sender-addresses\.py .*?tilda\.html)$/ms
    or BAIL_OUT('no command in senders/README.md');
$cmd =~ s/\\\n\s*/ /g;
$cmd =~ s/^tools\//$ROOT\/tools\//;
$cmd =~ s/--out senders/--out '$out'/;
$cmd =~ s/=t\/data\//=$ROOT\/t\/data\//g;

my $log = `cd '$ROOT' && $cmd 2>&1`;
is($?, 0, 'the command of senders/README.md runs') or diag($log);

my @shipped = map { s{.*/}{}r } glob "$ROOT/senders/*.conf";
my @made = map { s{.*/}{}r } glob "$out/*.conf";

is_deeply(\@made, \@shipped, 'one snippet per provider, as shipped');
ok(@shipped >= 9, scalar(@shipped) . ' snippets');

for my $f (@shipped) {
    is(slurp("$out/$f"), slurp("$ROOT/senders/$f"),
       "$f: as the script makes it");

    my $s = slurp("$ROOT/senders/$f");
    like($s, qr/^# Source: https:\/\/\S+$/m, "$f: names its source URL");
    like($s, qr/^# Data of: \S.*$/m, "$f: says when its data is of");
    like($s, qr/check this file against the source, or\n# regenerate it/,
         "$f: says to check or regenerate it");
    my @lines = grep { !/^#/ && !/^$/ } split /\n/, $s;
    ok(@lines > 0, "$f: " . scalar(@lines) . ' allow lines');
    is_deeply([ grep { !/^allow [0-9a-f.:\/]+;$/ } @lines ], [],
              "$f: allow lines only, no deny");
}

like(slurp("$out/stripe.conf"), qr/^allow 3\.18\.12\.63;$/m,
     'stripe: from ips_webhooks.json');
like(slurp("$out/github.conf"), qr/^allow 2a0a:a440::\/29;$/m,
     'github: the hooks list, IPv6 too');
unlike(slurp("$out/github.conf"), qr/20\.201\.28\.151/,
       'github: only the hooks list, not "web"');
like(slurp("$out/yookassa.conf"), qr/^allow 77\.75\.156\.11;$/m,
     'yookassa: from the page');
unlike(slurp("$out/yookassa.conf"), qr/127\.0\.0\.1|12:00/,
       'yookassa: a loopback example and a time on the page left out');
unlike(slurp("$out/paddle.conf"), qr/34\.194\.127\.46/,
       'paddle: production only');
like(slurp("$out/paddle-sandbox.conf"), qr/^allow 34\.194\.127\.46;$/m,
     'paddle-sandbox: the sandbox addresses');
like(slurp("$out/cloudpayments.conf"), qr/^allow 185\.98\.81\.0\/28;$/m,
     'cloudpayments: an address at the end of a sentence');

# Stripe's .txt reads as its .json, the date given, a URL as the source

my $o2 = $t->dir . '/txt';
my ($rc, $text) = run_script('--out', $o2, '--date', '2024-01-02',
                             "--from=stripe=$DATA/stripe-ips_webhooks.txt",
                             'stripe');
is($rc, 0, 'stripe from ips_webhooks.txt') or diag($text);
my $txt = slurp("$o2/stripe.conf");
is(join("\n", grep { /^allow/ } split /\n/, $txt),
   join("\n", grep { /^allow/ } split /\n/, slurp("$out/stripe.conf")),
   'stripe: the .txt gives the same lines');
like($txt, qr/^# Data of: 2024-01-02$/m, '--date');
like($txt, qr/^# Source: https:\/\/stripe\.com\/files\/ips\/ips_webhooks/m,
     'the source is the published URL');

# refusals: nothing written, exit 1, a message naming the provider

sub refused {
    my ($name, $content, $re, $what, $provider) = @_;
    $provider ||= 'stripe';

    my $dir = $t->dir . "/bad-$name";
    my $file = $t->dir . "/$name.in";
    open my $fh, '>', $file or die;
    print $fh $content;
    close $fh;

    my ($rc, $text) = run_script('--out', $dir,
                                 "--from=$provider=$file", $provider);
    is($rc, 1, "$what: exit 1");
    like($text, qr/\Q$provider\E: .*$re.*not written/, "$what: message")
        or diag($text);
    ok(!-e "$dir/$provider.conf", "$what: nothing written");
}

refused('empty', "\n", qr/no address found/, 'an empty list');
refused('private', "3.18.12.63\n10.0.0.0/8\n", qr/"10.0.0.0\/8" is not a /,
        'a private network');
refused('loopback', "127.0.0.1\n", qr/not a public address/, 'loopback');
refused('all', "0.0.0.0/0\n", qr/not a public address|wider/,
        '0.0.0.0/0');
refused('wide', "3.0.0.0/8\n", qr/"3.0.0.0\/8" is wider than a sender/,
        'a /8');
refused('wide6', "2a00::/12\n", qr/wider than a sender/, 'an IPv6 /12');
refused('junk', "3.18.12.63\nnot-an-address\n",
        qr/"not-an-address" is not an address/, 'a line that is no address');
refused('nokey', '{"web":["192.30.252.0/22"]}',
        qr/no list "hooks" in the JSON document/, 'JSON without "hooks"',
        'github');
refused('page', '<html><p>We moved the list.</p></html>',
        qr/no address found/, 'a page without addresses', 'yookassa');
refused('pagewide', '<p>from 0.0.0.0/0 and 185.71.76.0/27</p>',
        qr/wider than a sender/, 'a page with 0.0.0.0/0', 'yookassa');

($rc, $text) = run_script('--out', $t->dir . '/x',
                          "--from=stripe=$DATA/no-such-file", 'stripe');
is($rc, 1, 'a missing saved copy: exit 1');
like($text, qr/stripe: .*no-such-file: .*No such file/, 'its message');

($rc, $text) = run_script('nosuch');
is($rc, 2, 'an unknown provider: exit 2');

# an existing snippet is kept when its regeneration fails

{
    my $dir = $t->dir . '/keep';
    mkdir $dir;
    open my $fh, '>', "$dir/stripe.conf" or die;
    print $fh "allow 3.18.12.63;\n";
    close $fh;
    open $fh, '>', $t->dir . '/keep.in' or die;
    close $fh;

    my ($rc, $text) = run_script('--out', $dir,
                                 '--from=stripe=' . $t->dir . '/keep.in',
                                 'stripe');
    is($rc, 1, 'a failed regeneration: exit 1');
    is(slurp("$dir/stripe.conf"), "allow 3.18.12.63;\n",
       'a failed regeneration: the snippet in place is kept');
}

# every snippet loads, inside a relaying location with "deny all" after
# it; 127.0.0.1 is in none of them: refused before anything is read

my $includes = join '', map {
    "            include $ROOT/senders/$_;\n"
} @shipped;

my ($trc, $tout) = $t->nginx_test(<<"EOF");
    b24trigger_portal main http://127.0.0.1:1/rest/1/%%SECRET%%/;
    server {
        listen %%LISTEN%%;
        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
$includes            deny all;
        }
    }
EOF
is($trc, 0, 'nginx -t with every snippet') or diag($tout);
unlike($tout, qr/\[(warn|emerg|alert|crit)\]/, 'nginx -t: no warning');

$t->emulator;
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    server {
        listen %%LISTEN%%;
        location = /stripe {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            include $ROOT/senders/stripe.conf;
            deny all;
        }
        location = /stripe-local {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_2;
            include $ROOT/senders/stripe.conf;
            allow 127.0.0.1;
            deny all;
        }
    }
EOF

my $r = $t->post('/stripe', '{}');
is($r->{status}, 403, 'a sender not in the list: 403');
is(scalar @{ $t->calls }, 0, 'a sender not in the list: nothing forwarded');

$r = $t->post('/stripe-local', '{}');
is($r->{status}, 200, 'the operator\'s own allow after the include: 200');
is(scalar @{ $t->calls }, 1, 'forwarded');

$t->finish;

done_testing;
