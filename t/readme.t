#!/usr/bin/perl

# README.md's synopsis stays true: with its paths moved into the test's
# directory it passes nginx -t, takes a Stripe-signed event, queues it,
# delivers it, answers a repeat as a duplicate, and shows it in the
# status location.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(stripe_signature);

my $t = B24T->new;
my $d = $t->dir;
chmod 0711, $d;

open my $fh, '<', "$B24T::ROOT/README.md" or die;
my $readme = do { local $/; <$fh> };
close $fh;

my ($synopsis) = $readme =~ /## Synopsis\n\n```nginx\n(.*?)```/s
    or die "no synopsis in README.md";

my $secret = 'whsec_' . B24T::random_secret(24);

$t->emulator(args => ['--bucket', 0]);

mkdir "$d/secrets";
for (['bitrix24-url', "http://$t->{emu}/rest/1/" . $t->secret . '/'],
     ['stripe', $secret])
{
    open my $f, '>', "$d/secrets/$_->[0]" or die;
    print $f "$_->[1]\n";
    close $f;
    chmod 0600, "$d/secrets/$_->[0]";
}

(my $conf = $synopsis) =~ s/^load_module[^\n]*\n//m;
$conf =~ s/^\s*http \{\n(.*)\}\s*$/$1/s or die "no http block";
$conf =~ s{/etc/nginx/secrets/}{$d/secrets/}g;
$conf =~ s{/var/spool/nginx/b24trigger}{$d/spool}g;
$conf =~ s/listen 443 ssl;/listen %%LISTEN%%;/;

my ($rc, $out) = $t->nginx_test($conf);
is($rc, 0, 'the synopsis passes nginx -t') or diag($out);

$t->nginx($conf);

my $body = '{"id":"evt_1","type":"checkout.session.completed",'
           . '"data":{"object":{"metadata":{"deal_id":"57"}}}}';

my $r = $t->post('/hooks/stripe', $body,
                 'Stripe-Signature' => stripe_signature($secret, $body),
                 'Content-Type' => 'application/json');
is($r->{status}, 202, 'queued');
is($r->{json}{result}, 'queued', 'queued: body');

ok($t->wait_until(sub { @{ $t->calls } == 1 }, 10), 'delivered');
is($t->calls->[0]{target}, 'DEAL_57', 'target from the metadata');
is($t->calls->[0]{code}, 'stripe_paid', 'code');

$r = $t->post('/hooks/stripe', $body,
              'Stripe-Signature' => stripe_signature($secret, $body),
              'Content-Type' => 'application/json');
is_deeply($r->{json}, { result => 'duplicate' }, 'the same event again');

$r = $t->post('/hooks/stripe', $body,
              'Stripe-Signature' => stripe_signature('whsec_other', $body),
              'Content-Type' => 'application/json');
is($r->{status}, 401, 'another secret: 401');

$r = $t->request('GET', '/b24trigger/status');
is($r->{json}{webhooks}{'/hooks/stripe'}{queued}, 1, 'status counts it');

$t->finish;
$t->secret_nowhere;

done_testing;
