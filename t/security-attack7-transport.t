#!/usr/bin/perl

# Attacker review 7: what HTTP lets a sender change around a signed body,
# which t/security-reaim*.t and t/security-replay*.t do not try.  Each
# attack starts from a request signed as the provider signs it (secrets
# random per run), on two workers:
#
#   - chunked transfer: the signature covers the decoded bytes (a signed
#     body in chunks is forwarded, one changed chunk is refused), and a
#     body over b24trigger_body_max that comes in small chunks is 413
#     with a JSON error, never a partial body verified;
#   - a Content-Length shorter than the body: what nginx reads is checked;
#   - Content-Encoding: gzip is not decoded: the signature is over the
#     bytes sent, and compressed bytes give no fields;
#   - a body that is JSON and a form at once, under either Content-Type:
#     read one way only, by its first byte;
#   - a signature header, a timestamp header given twice, one good and
#     one bad (Stripe, GitHub, a generic hmac with timestamp=);
#   - one signed request (GitHub) sent 12 times at the same moment, and
#     12 Stripe deliveries of one event signed at different times: one
#     call reaches the portal.
#
# The SAFE outcome, every time: the documented status and JSON error, and
# nothing at the portal but what was signed.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Compress::Gzip qw(gzip $GzipError);
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV qw(nothing_leaked stripe_signature github_signature);

my $t = B24T->new;
my $s_stripe = 'whsec_' . B24T::random_secret(24);
my $s_gh = B24T::random_secret(24);
my $s_hmac = B24T::random_secret(24);

$t->emulator;
$t->nginx(<<"EOF", workers => 2);
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;
    b24trigger_dedup_zone replays:1m;
    b24trigger_dedup_zone events:1m;

    b24trigger_field \$s_deal  data.object.metadata.deal_id;
    b24trigger_field \$s_id    id;
    b24trigger_field \$deal    deal;

    server {
        listen %%LISTEN%%;

        add_header X-B24-Error \$b24trigger_error always;

        location = /stripe {
            b24trigger_pass      crm;
            b24trigger_verify    stripe;
            b24trigger_secret    $s_stripe;
            b24trigger_body_max  4k;
            b24trigger_dedup     events \$s_id;
            b24trigger_target    DEAL_\$s_deal;
            b24trigger_code      paid;
        }

        location = /gh {
            b24trigger_pass      crm;
            b24trigger_verify    github;
            b24trigger_secret    $s_gh;
            b24trigger_replay    replays;
            b24trigger_target    DEAL_\$deal;
            b24trigger_code      push;
        }

        location = /hmac {
            b24trigger_pass      crm;
            b24trigger_verify    hmac header=X-Signature;
            b24trigger_secret    $s_hmac;
            b24trigger_replay    replays;
            b24trigger_target    DEAL_\$deal;
            b24trigger_code      h;
        }

        location = /hmacts {
            b24trigger_pass      crm;
            b24trigger_verify    hmac header=X-Signature timestamp=\$http_x_ts
                                 "message=\$http_x_ts.{body}";
            b24trigger_secret    $s_hmac;
            b24trigger_target    DEAL_\$deal;
            b24trigger_code      hts;
        }
    }
EOF

my @json = ('Content-Type' => 'application/json');
my @form = ('Content-Type' => 'application/x-www-form-urlencoded');
my $seen = 0;

# the portal's calls so far: exactly the ones expected, by target
sub portal_got {
    my ($name, @targets) = @_;
    my $calls = $t->calls;
    my @new = map { $_->{target} } @$calls[$seen .. $#$calls];
    $seen = @$calls;
    is_deeply(\@new, \@targets,
              "$name: the portal got " . (@targets ? "@targets" : 'nothing'));
}

sub refused_with {
    my ($r, $status, $error, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{raw});
    is($r->{json} && $r->{json}{error}, $error, "$name: $error");
    like($r->{headers}{'content-type'} || '', qr{^application/json},
         "$name: JSON");
}

sub stripe_body {
    my ($deal, %o) = @_;
    my $pad = $o{pad} ? ',"pad":"' . ('x' x $o{pad}) . '"' : '';
    return '{"id":"' . ($o{id} || 'evt_' . B24T::random_secret(12))
         . '","type":"checkout.session.completed","data":{"object":'
         . '{"metadata":{"deal_id":"' . $deal . "\"}}}$pad}";
}

###############################################################################
# chunked

my $b = stripe_body(57);
my $r = $t->post('/stripe', $b, @json, 'Transfer-Encoding' => 'chunked',
                 'Stripe-Signature' => stripe_signature($s_stripe, $b));
is($r->{json} && $r->{json}{target}, 'DEAL_57', 'chunked: forwarded')
    or diag($r->{raw});
portal_got('chunked', 'DEAL_57');

# the same, its last chunk changed: the signature is over the decoded bytes

$b = stripe_body(58, pad => 2500);
(my $changed = $b) =~ s/x"\}$/y"}/;
$r = $t->post('/stripe', $changed, @json, 'Transfer-Encoding' => 'chunked',
              'Stripe-Signature' => stripe_signature($s_stripe, $b));
refused_with($r, 401, 'signature_invalid', 'chunked, last chunk changed');
portal_got('chunked, last chunk changed');

# over b24trigger_body_max (4k), in chunks of 1000 bytes, correctly signed

$b = stripe_body(59, pad => 6000);
$r = $t->post('/stripe', $b, @json, 'Transfer-Encoding' => 'chunked',
              'Stripe-Signature' => stripe_signature($s_stripe, $b));
refused_with($r, 413, 'body_too_large', 'chunked over body_max');
portal_got('chunked over body_max');
like($t->error_log,
     qr/\[info\] .*b24trigger: body is larger than b24trigger_body_max 4096/,
     'chunked over body_max: logged');

# exactly at the limit: read whole, and verified

$b = stripe_body(60);
$b = stripe_body(60, pad => 4096 - length($b) - length(',"pad":""'));
is(length $b, 4096, 'a body of exactly 4096 bytes');
$r = $t->post('/stripe', $b, @json, 'Transfer-Encoding' => 'chunked',
              'Stripe-Signature' => stripe_signature($s_stripe, $b));
is($r->{json} && $r->{json}{target}, 'DEAL_60', 'chunked at body_max: 200');
portal_got('chunked at body_max', 'DEAL_60');

###############################################################################
# Content-Length shorter than what is sent: the rest is never read as body

sub raw {
    my ($req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$t->{port}",
                                  Timeout => 5) or die "connect: $!";
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, $req);
    my $r = B24T::read_response($s, 10);
    push @{ $t->{replies} }, $r;
    return $r;
}

$b = '{"deal":"61","note":"x"}';
my $sig = hmac_sha256_hex($b, $s_hmac);
$r = raw("POST /hmac HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
         . "Content-Type: application/json\r\nX-Signature: $sig\r\n"
         . "Content-Length: " . (length($b) - 6) . "\r\n\r\n$b");
refused_with($r, 401, 'signature_invalid', 'Content-Length short by 6');
portal_got('Content-Length short by 6');

###############################################################################
# Content-Encoding: gzip, which the module does not decode

my $plain = stripe_body(62);
gzip(\$plain => \my $gz) or die $GzipError;

$r = $t->post('/stripe', $gz, @json, 'Content-Encoding' => 'gzip',
              'Stripe-Signature' => stripe_signature($s_stripe, $gz));
refused_with($r, 400, 'body_invalid', 'gzip, signed compressed');
portal_got('gzip, signed compressed');

$r = $t->post('/stripe', $gz, @json, 'Content-Encoding' => 'gzip',
              'Stripe-Signature' => stripe_signature($s_stripe, $plain));
refused_with($r, 401, 'signature_invalid', 'gzip, signed uncompressed');
portal_got('gzip, signed uncompressed');

$plain = '{"deal":"63"}';
gzip(\$plain => \$gz) or die $GzipError;
$r = $t->post('/hmac', $gz, @json, 'Content-Encoding' => 'gzip',
              'X-Signature' => hmac_sha256_hex($gz, $s_hmac));
refused_with($r, 422, 'target_invalid', 'hmac, gzip signed compressed');
portal_got('hmac, gzip signed compressed');

###############################################################################
# JSON and a form at once: the first byte decides, not the Content-Type

for my $ct (\@json, \@form, []) {
    my $name = 'Content-Type ' . (@$ct ? $ct->[1] : 'none');

    $b = '{"deal":"64","x":"&deal=999&' . B24T::random_secret(4) . '"}';
    $r = $t->post('/hmac', $b, @$ct,
                  'X-Signature' => hmac_sha256_hex($b, $s_hmac));
    is($r->{json} && $r->{json}{target}, 'DEAL_64', "JSON body, $name")
        or diag($r->{raw});

    $b = 'deal=65&x={"deal":"999"}&' . B24T::random_secret(4);
    $r = $t->post('/hmac', $b, @$ct,
                  'X-Signature' => hmac_sha256_hex($b, $s_hmac));
    is($r->{json} && $r->{json}{target}, 'DEAL_65', "form body, $name")
        or diag($r->{raw});
    portal_got($name, 'DEAL_64', 'DEAL_65');
}

###############################################################################
# a header given twice

my $now = time;
$b = stripe_body(66);
my $old = stripe_signature($s_stripe, $b, $now - 400);
my $junk = "t=$now,v1=" . ('0' x 64);

$r = $t->post('/stripe', $b, @json, 'Stripe-Signature' => $old,
              'Stripe-Signature' => $junk);
refused_with($r, 401, 'timestamp_out_of_range',
             'Stripe-Signature twice, the stale one first');
$r = $t->post('/stripe', $b, @json, 'Stripe-Signature' => $junk,
              'Stripe-Signature' => $old);
refused_with($r, 401, 'signature_invalid',
             'Stripe-Signature twice, a fresh junk one first');
portal_got('Stripe-Signature twice');

$b = '{"deal":"67"}';
my $ts_old = $now - 400;
$sig = hmac_sha256_hex("$ts_old.$b", $s_hmac);
$r = $t->post('/hmacts', $b, @json, 'X-Ts' => $now, 'X-Ts' => $ts_old,
              'X-Signature' => $sig);
refused_with($r, 401, 'signature_invalid', 'X-Ts twice, a fresh one first');
$r = $t->post('/hmacts', $b, @json, 'X-Ts' => $ts_old, 'X-Ts' => $now,
              'X-Signature' => $sig);
refused_with($r, 401, 'timestamp_out_of_range', 'X-Ts twice, stale first');
portal_got('X-Ts twice');

# GitHub: every header is tried; the body is what is signed

$b = '{"deal":"68","after":"' . B24T::random_secret(8) . '"}';
$r = $t->post('/gh', $b, @json,
              'X-Hub-Signature-256' => 'sha256=' . ('0' x 64),
              'X-Hub-Signature-256' => github_signature($s_gh, $b));
is($r->{json} && $r->{json}{target}, 'DEAL_68',
   'X-Hub-Signature-256 twice, the good one second: its body forwarded');
portal_got('X-Hub-Signature-256 twice', 'DEAL_68');

###############################################################################
# at the same moment, on two workers

$t->emu_config(latency_ms => 300);

$b = '{"deal":"69","after":"' . B24T::random_secret(8) . '"}';
my @r = $t->simultaneous(map { { path => '/gh', body => $b,
    headers => [@json, 'X-Hub-Signature-256' => github_signature($s_gh, $b)]
} } 1 .. 12);

my %st;
$st{$_->{status} . ' ' . ($_->{json}{result} || $_->{json}{error} || '')}++
    for @r;
is($st{'200 forwarded'}, 1, 'one signed request 12 times: one forwarded')
    or diag(explain \%st);
is(($st{'200 duplicate'} || 0) + ($st{'409 duplicate_in_flight'} || 0), 11,
   'one signed request 12 times: 11 duplicates');
portal_got('one signed request 12 times', 'DEAL_69');

my $id = 'evt_' . B24T::random_secret(12);
$b = stripe_body(70, id => $id);
@r = $t->simultaneous(map { { path => '/stripe', body => $b,
    headers => [@json, 'Stripe-Signature'
                       => stripe_signature($s_stripe, $b, $now - $_)]
} } 1 .. 12);

%st = ();
$st{$_->{status} . ' ' . ($_->{json}{result} || $_->{json}{error} || '')}++
    for @r;
is($st{'200 forwarded'}, 1, 'one event signed 12 times: one forwarded')
    or diag(explain \%st);
portal_got('one event signed 12 times', 'DEAL_70');

$t->emu_config(latency_ms => 0);

$t->finish;
nothing_leaked($t, 'no secret anywhere', $s_stripe, $s_gh, $s_hmac);
$t->secret_nowhere;

done_testing;
