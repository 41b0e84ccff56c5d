#!/usr/bin/perl

# b24trigger_verify twilio: X-Twilio-Signature, base64 HMAC-SHA1 keyed
# with the Auth Token of the URL Twilio requested followed by the POST
# parameters sorted by name (name, then value); for a JSON body the URL
# carries bodySHA256 (the body's SHA-256 in hex) and is signed alone.
# The URL is what url= says (by default $scheme://$http_host$request_uri),
# tried with and without its port as Twilio's SDK does.  The signer is
# Twilio's own SDK (npm "twilio", getExpectedTwilioSignature).

use strict;
use warnings;

use Test::More;
use B24T;
use B24TV;
use B24TParams qw(form twilio_signature twilio_validate twilio_body_hash);

my $t = B24T->new;
my $s1 = B24T::random_secret(32);
my $s2 = B24T::random_secret(32);

$t->emulator;
$t->nginx("    b24trigger_dedup_zone replays:1m;\n" . http_block(
    location(path => '/tw', verify => 'twilio', secrets => [$s1, $s2]),
    location(path => '/tw-public',
             verify => 'twilio "url=https://hooks.example.com$request_uri"',
             secrets => [$s1]),
    location(path => '/tw-port',
             verify => 'twilio "url=https://hooks.example.com:443$request_uri"',
             secrets => [$s1]),
    location(path => '/tw-replay', verify => 'twilio', secrets => [$s1],
             extra => 'b24trigger_replay replays;'),
    "        location = /myapp.php {\n"
    . "            b24trigger_pass main;\n"
    . "            b24trigger_verify twilio "
    . "\"url=https://mycompany.com\$request_uri\";\n"
    . "            b24trigger_secret 12345;\n"
    . "            b24trigger_target DEAL_\$arg_foo;\n"
    . "            b24trigger_unsigned \$arg_foo;\n"
    . "        }\n",
));

my $base = "http://127.0.0.1:$t->{port}";
my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');
my $r;

# Twilio's documented example (twilio.com/docs/usage/security)

my %doc = (CallSid => 'CA1234567890ABCDE', Caller => '+12349013030',
           Digits => '1234', From => '+12349013030', To => '+18005551212');
my $docurl = 'https://mycompany.com/myapp.php?foo=1&bar=2';

is(twilio_signature('12345', $docurl, \%doc), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=',
   'the SDK gives the documented signature');

$r = $t->post('/myapp.php?foo=1&bar=2',
              form(map { ($_, $doc{$_}) } sort keys %doc), @ct,
              'X-Twilio-Signature' => '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
is($r->{status}, 200, 'the documented request: 200') or diag($r->{body});
is(scalar @{ $t->calls }, 1, 'the documented request: forwarded');
is($t->calls->[0]{target}, 'DEAL_1', 'the documented request: DEAL_1');
$t->{b24tv_calls} = 1;

# an SMS as Twilio posts it

my %sms = (MessageSid => 'SM' . B24T::random_secret(32),
           AccountSid => 'AC' . B24T::random_secret(32),
           From => '+79990001122', To => '+74950000000',
           Body => 'Хочу купить: 2 шт / срочно & недорого', NumMedia => '0');

sub post {
    my ($path, $key, %o) = @_;
    my %p = %{ $o{params} || \%sms };
    my $url = $o{url} || "$base$path";
    my $sig = $o{sig} || twilio_signature($key, $url, \%p, $o{alg});
    my $body = defined $o{body} ? $o{body}
             : form(map { ($_, $p{$_}) } sort keys %p);
    return $t->post($path, $body, @ct, 'X-Twilio-Signature' => $sig,
                    @{ $o{headers} || [] });
}

$r = post('/tw?deal=2', $s1);
forwarded($t, $r, 2, 'valid, the URL nginx sees');

$r = post('/tw?deal=3', $s2);
forwarded($t, $r, 3, 'second Auth Token');

$r = post('/tw-public?deal=4', $s1,
          url => 'https://hooks.example.com/tw-public?deal=4');
forwarded($t, $r, 4, 'behind a proxy: url= gives the public URL');

$r = post('/tw-public?deal=5', $s1,
          url => 'https://hooks.example.com:443/tw-public?deal=5');
forwarded($t, $r, 5, 'signed with :443, url= without a port');

$r = post('/tw-port?deal=6', $s1,
          url => 'https://hooks.example.com/tw-port?deal=6');
forwarded($t, $r, 6, 'signed without a port, url= with :443');

# the port rules are the SDK's: its validateRequest accepts the same

is(twilio_validate($s1,
                   twilio_signature($s1, 'https://hooks.example.com:443/a',
                                    \%sms),
                   'https://hooks.example.com/a', \%sms),
   'true', 'the SDK too: signed with :443, checked without a port');
is(twilio_validate($s1,
                   twilio_signature($s1, 'https://hooks.example.com/a',
                                    \%sms),
                   'https://hooks.example.com:443/a', \%sms),
   'true', 'the SDK too: signed without a port, checked with :443');
is(twilio_validate($s1,
                   twilio_signature($s1, 'https://evil.example.com/a',
                                    \%sms),
                   'https://hooks.example.com/a', \%sms),
   'false', 'the SDK too: another host refused');

$r = post('/tw?deal=7', $s1, alg => 'HMAC_SHA256',
          headers => ['X-Twilio-Webhooks-Signature-Settings'
                      => 'algorithm=HMAC_SHA256']);
forwarded($t, $r, 7, 'HMAC_SHA256 where the settings header says so');

$r = post('/tw?deal=8', $s1, params => {});
forwarded($t, $r, 8, 'no parameters: the URL alone');

# a JSON body: bodySHA256 in the URL, the URL signed alone

my $json = '{"deal":"57","event":"com.twilio.messaging.inbound"}';
my $hash = twilio_body_hash($json);
my $jurl = "/tw?deal=9&bodySHA256=$hash";

$r = $t->post($jurl, $json, 'Content-Type' => 'application/json',
              'X-Twilio-Signature' => twilio_signature($s1, "$base$jurl",
                                                       {}));
forwarded($t, $r, 9, 'JSON body with bodySHA256');

$r = $t->post($jurl, $json =~ s/57/58/r, 'Content-Type' => 'application/json',
              'X-Twilio-Signature' => twilio_signature($s1, "$base$jurl",
                                                       {}));
refused($t, $r, 'signature_invalid', 'JSON body changed under bodySHA256');

$r = $t->post('/tw?deal=10', $json, 'Content-Type' => 'application/json',
              'X-Twilio-Signature' => twilio_signature($s1, "$base/tw?deal=10",
                                                       {}));
refused($t, $r, 'signature_invalid', 'JSON body without bodySHA256');

# refused

my $sig = twilio_signature($s1, "$base/tw?deal=11", \%sms);

$r = post('/tw?deal=11', $s1, sig => $sig,
          params => { %sms, Body => 'другой текст' });
refused($t, $r, 'signature_invalid', 'tampered parameter');

$r = post('/tw?deal=11', $s1, sig => $sig, params => { %sms, Extra => '1' });
refused($t, $r, 'signature_invalid', 'added parameter');

my %less = %sms;
delete $less{NumMedia};
$r = post('/tw?deal=11', $s1, sig => $sig, params => \%less);
refused($t, $r, 'signature_invalid', 'removed parameter');

$r = post('/tw?deal=12', $s1, sig => $sig);
refused($t, $r, 'signature_invalid', 're-aimed: another deal in the URL');

$r = post('/tw-replay?deal=11', $s1, sig => $sig);
refused($t, $r, 'signature_invalid', 're-aimed: another path');

$r = post('/tw-public?deal=13', $s1,
          url => 'https://evil.example.com/tw-public?deal=13');
refused($t, $r, 'signature_invalid', 'signed for another host');

$r = post('/tw?deal=11', B24T::random_secret(32));
refused($t, $r, 'signature_invalid', 'wrong Auth Token');

$r = $t->post('/tw?deal=11', form(%sms), @ct);
refused($t, $r, 'signature_missing', 'no X-Twilio-Signature');

$r = post('/tw?deal=11', $s1, sig => '!!!not base64');
refused($t, $r, 'signature_invalid', 'signature not base64');

$r = post('/tw?deal=11', $s1,
          body => form(map { ($_, $sms{$_}) } sort keys %sms) . '&From=x');
is($r->{status}, 400, 'a parameter twice: 400');
is($r->{json}{error}, 'body_invalid', 'a parameter twice: body_invalid');

# the replay shield

$r = post('/tw-replay?deal=14', $s1);
forwarded($t, $r, 14, 'shielded');

my $calls = scalar @{ $t->calls };
$r = post('/tw-replay?deal=14', $s1);
is($r->{json}{result}, 'duplicate', 'replayed: duplicate');
is(scalar @{ $t->calls }, $calls, 'replayed: nothing forwarded');

rejection_logged($t, '/tw', 'signature_missing',
                 'no "X-Twilio-Signature" header');
rejection_logged($t, '/tw', 'signature_invalid',
                 '"X-Twilio-Signature" does not match');
rejection_logged($t, '/tw', 'signature_invalid',
                 'the body does not match "bodySHA256"');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no Auth Token, no computed signature in any log',
               $s1, $s2,
               twilio_signature($s1, "$base/tw?deal=11", \%less));

done_testing;
