#!/usr/bin/perl

# b24trigger_verify mailgun: the JSON body's "signature" object,
# {"timestamp","token","signature"}: the signature is the hex
# HMAC-SHA256, keyed with the HTTP webhook signing key, of the timestamp
# followed by the token; a stale timestamp is refused, a token used
# twice is a replay.  Mailgun signs nothing else: the event itself
# ("event-data") is not signed, so nginx -t lets no field of it decide.

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV;
use B24TParams qw(mailgun_signature);

my $t = B24T->new;
my $s1 = B24T::random_secret(24);
my $s2 = B24T::random_secret(24);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/mg', verify => 'mailgun', secrets => [$s1, $s2]),
    location(path => '/mg-short', verify => 'mailgun tolerance=10s',
             secrets => [$s1]),
    location(path => '/mg-replay', verify => 'mailgun', secrets => [$s1],
             extra => 'b24trigger_replay replays;'),
));

# the reference vector (webhook-signatures.md §3, Mailgun)
is(mailgun_signature('mg_signing_key', '1700000000',
                     'a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0'),
   '800f347021809098968f94fbc65938d154f186b3e08b05e64aeeb2cc79556499',
   'the signer gives the reference signature');

sub token { join '', map { sprintf '%02x', int rand 256 } 1 .. 25 }

sub event {
    my ($key, %o) = @_;
    my $ts = defined $o{ts} ? $o{ts} : time;
    my $token = $o{token} || token();
    my $sig = $o{sig} || mailgun_signature($key, $ts, $token);
    my $tsj = $o{ts_number} ? $ts : "\"$ts\"";
    my $event = $o{event} || 'delivered';
    return qq({"signature":{"timestamp":$tsj,"token":"$token",)
         . qq("signature":"$sig"},"event-data":{"event":"$event",)
         . qq("id":"Ase-0x","recipient":"buyer\@example.com",)
         . qq("user-variables":{"deal":"57"}}});
}

my @json = ('Content-Type' => 'application/json');
my $r;

$r = $t->post('/mg?deal=1', event($s1), @json);
forwarded($t, $r, 1, 'valid');

$r = $t->post('/mg?deal=2', event($s2), @json);
forwarded($t, $r, 2, 'second secret');

$r = $t->post('/mg?deal=3', event($s1, ts_number => 1), @json);
forwarded($t, $r, 3, 'the timestamp as a number');

$r = $t->post('/mg?deal=4', event($s1, ts => time - 200), @json);
forwarded($t, $r, 4, '200 s old, within 300 s');

# refused

my $token = token();
my $ts = time;
my $good = mailgun_signature($s1, $ts, $token);

$r = $t->post('/mg?deal=5', event($s1, ts => $ts, token => token(),
                                   sig => $good), @json);
refused($t, $r, 'signature_invalid', 'another token');

$r = $t->post('/mg?deal=5', event($s1, ts => $ts + 1, token => $token,
                                   sig => $good), @json);
refused($t, $r, 'signature_invalid', 'another timestamp');

$r = $t->post('/mg?deal=5', event(B24T::random_secret(24)), @json);
refused($t, $r, 'signature_invalid', 'wrong key');

$r = $t->post('/mg?deal=5', event($s1, ts => time - 400), @json);
refused($t, $r, 'timestamp_out_of_range', 'stale: 400 s old');

$r = $t->post('/mg?deal=5', event($s1, ts => time + 400), @json);
refused($t, $r, 'timestamp_out_of_range', 'from the future');

$r = $t->post('/mg-short?deal=5', event($s1, ts => time - 30), @json);
refused($t, $r, 'timestamp_out_of_range', '30 s old, tolerance=10s');

$r = $t->post('/mg?deal=5', event($s1, ts => '17e8',
                                   sig => mailgun_signature($s1, '17e8', 'x'),
                                   token => 'x'), @json);
refused($t, $r, 'signature_invalid', 'a timestamp that is not digits');

$r = $t->post('/mg?deal=5', '{"event-data":{"event":"delivered"}}', @json);
refused($t, $r, 'signature_missing', 'no signature object');

$r = $t->post('/mg?deal=5', event($s1, sig => 'not-hex'), @json);
refused($t, $r, 'signature_invalid', 'signature not hex');

# a root name twice: which "signature" would be read?  refused, 400

my $two = event($s1);
$two =~ s/^\{/{"signature":{"timestamp":"1","token":"x","signature":"00"},/;
$r = $t->post('/mg?deal=5', $two, @json);
is($r->{status}, 400, 'two "signature" objects: 400');
is($r->{json}{error}, 'body_invalid', 'two "signature" objects: body_invalid');

# the replay shield: the token (and its signature) forwarded once, even
# with another event around it

my $body = event($s1, token => $token, ts => $ts);

$r = $t->post('/mg-replay?deal=6', $body, @json);
forwarded($t, $r, 6, 'shielded');

my $calls = scalar @{ $t->calls };

$r = $t->post('/mg-replay?deal=7', $body, @json);
is($r->{json}{result}, 'duplicate', 'replayed: duplicate');

$r = $t->post('/mg-replay?deal=7',
              event($s1, token => $token, ts => $ts, event => 'opened'),
              @json);
is($r->{json}{result}, 'duplicate',
   'the same token around another event: duplicate');
is(scalar @{ $t->calls }, $calls, 'replayed: nothing forwarded');

rejection_logged($t, '/mg', 'signature_missing',
                 'no "signature.timestamp" field');
rejection_logged($t, '/mg', 'signature_invalid',
                 '"signature.signature" does not match');
rejection_logged($t, '/mg', 'timestamp_out_of_range',
                 'timestamp is 4\d\d s in the past, tolerance 300 s');

# only signed data decides: the event is not signed

my ($rc, $out) = $t->nginx_test(<<'EOF2');
    b24trigger_portal main http://127.0.0.1:1/rest/1/x/;
    b24trigger_field $mg_deal event-data.user-variables.deal;
    b24trigger_field $mg_token signature.token;
    server {
        listen 127.0.0.1:1;
        location = /mg {
            b24trigger_pass main;
            b24trigger_verify mailgun;
            b24trigger_secret k;
            b24trigger_target DEAL_$mg_deal;
        }
    }
EOF2
isnt($rc, 0, 'nginx -t: a target from event-data is refused');
like($out, qr/b24trigger_target.*mg_deal/, 'nginx -t names it');

($rc, $out) = $t->nginx_test(<<'EOF2');
    b24trigger_portal main http://127.0.0.1:1/rest/1/x/;
    b24trigger_field $mg_token signature.token;
    b24trigger_dedup_zone z:1m;
    server {
        listen 127.0.0.1:1;
        location = /mg {
            b24trigger_pass main;
            b24trigger_verify mailgun;
            b24trigger_secret k;
            b24trigger_target DEAL_1;
            b24trigger_dedup z $mg_token;
        }
    }
EOF2
is($rc, 0, 'nginx -t: a dedup key from signature.token is signed')
    or diag($out);
unlike($out, qr/signs no timestamp/,
       'no warning without a shield: the timestamp is signed');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no key, no computed signature in any log', $s1, $s2,
               mailgun_signature($s1, $ts + 1, $token));

done_testing;
