#!/usr/bin/perl

# nginx.conf.example stays true: made runnable by tools/example-conf.sh
# (as "make demo" does), it passes nginx -t and relays a webhook.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV qw(stripe_signature);

my $t = B24T->new;
my $dir = $t->dir;
my $token = B24T::random_secret(32);
my $stripe = 'whsec_' . B24T::random_secret(24);
chmod 0711, $dir;

$t->emulator;

sub put {
    my ($name, $content) = @_;
    open my $fh, '>', "$dir/$name" or die "$name: $!";
    print $fh "$content\n";
    close $fh;
    chmod 0600, "$dir/$name";
}

put('portal.url', "http://$t->{emu}/rest/1/" . $t->secret . "/");
put('deal-token', $token);
put('lead-token', "new-$token");
put('lead-token.old', "old-$token");
put('stripe', $stripe);

$t->{port} = $t->held_port;

my $conf = `$B24T::ROOT/tools/example-conf.sh $t->{module} $dir $t->{port}`;
is($?, 0, 'example-conf.sh');

open my $fh, '>', "$dir/example.conf" or die;
print $fh $conf;
close $fh;

my $out = `$t->{nginx} -t -p $dir -c $dir/example.conf -e stderr 2>&1`;
is($?, 0, 'nginx -t passes on nginx.conf.example') or diag($out);
unlike($out, qr/\[warn\]/, 'without a warning') or diag($out);

my $pid = fork();
if ($pid == 0) {
    exec($t->{nginx}, '-p', $dir, '-c', "$dir/example.conf", '-e',
         "$dir/logs/error.log", '-g', 'daemon off;');
}
$t->{pids}{nginx} = $pid;
$t->wait_port($t->{port}, 10);

my $r = $t->post('/hooks/deal/57', '{"paid":true}',
                 'X-Webhook-Token' => $token);
is($r->{status}, 200, 'deal hook: forwarded');

$r = $t->post('/hooks/lead?lead=9', '{}',
              'Authorization' => "Bearer old-$token");
is($r->{status}, 200, 'lead hook: the old rotated token still works');

$r = $t->post('/hooks/lead?lead=9', '{}', 'Authorization' => "Bearer x");
is($r->{status}, 401, 'lead hook: a wrong token does not');

# Stripe: queued, paid sessions only, each event once

for my $ev (['evt_1', 'paid', 58], ['evt_2', 'unpaid', 59]) {
    my $body = qq({"id":"$ev->[0]","type":"checkout.session.completed",)
               . qq("data":{"object":{"payment_status":"$ev->[1]",)
               . qq("metadata":{"deal_id":"$ev->[2]"}}}});
    my $r = $t->post('/hooks/stripe', $body,
                     'Stripe-Signature' => stripe_signature($stripe, $body),
                     'Content-Type' => 'application/json');
    is($r->{json}{result}, $ev->[1] eq 'paid' ? 'queued' : 'ignored',
       "stripe $ev->[0]: $r->{body}");

    if ($ev->[1] eq 'paid') {
        $r = $t->post('/hooks/stripe', $body,
                      'Stripe-Signature' => stripe_signature($stripe, $body),
                      'Content-Type' => 'application/json');
        is($r->{json}{result}, 'duplicate', "stripe $ev->[0] again");
    }
}

$t->wait_until(sub { @{ $t->calls } >= 3 }, 10);

is_deeply([sort map { "$_->{target}/$_->{code}" } @{ $t->calls }],
          ['DEAL_57/c5u4m', 'DEAL_58/stripe_paid', 'LEAD_9/lead_paid'],
          'what the portal got');

my $st = $t->request('GET', '/b24trigger/status')->{json};
is($st->{webhooks}{'/hooks/stripe'}{queued}, 1, 'status: one queued');

like($t->slurp("$dir/b24trigger.log"),
     qr/"POST \/hooks\/deal\/57 HTTP\/1.1" 200 result=forwarded error=- target=DEAL_57 code=c5u4m portal=main portal_status=200 portal_error=- portal_time=\d+\.\d{3} attempts=1/,
     'the recommended log_format');

$t->stop;
my $log = $t->slurp("$dir/error.log");
unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alerts');

done_testing;
