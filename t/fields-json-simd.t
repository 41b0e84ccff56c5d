#!/usr/bin/perl

# The JSON parse has two builds of its inner loop on x86-64: the base one
# (SSE2, as on any x86-64) and one for AVX2, taken at startup where the
# processor has it; B24TRIGGER_JSON_SIMD=base in the master's environment
# keeps the base.  Both must give the same answers, with the same error
# text and byte: long strings that cross the 64-byte windows strings are
# found through, escapes, multibyte characters, pretty-printed texts
# (tabs, CR LF), repeated names, padding, and errors in later windows.

use strict;
use warnings;
use utf8;

use Encode qw(encode_utf8);
use Test::More;
use B24T;

my $json = 'application/json';

my $event = '{"id":"evt_3OqZbE2eZvKYlo2C1Xb9Qm7a","object":"event",'
    . '"api_version":"2023-10-16","created":1700000000,"livemode":false,'
    . '"request":{"id":"req_Zt1yJrG1kS8b2x","idempotency_key":null},'
    . '"data":{"object":{"id":"pi_3OqZbE2eZvKYlo2C1kD7sA8x",'
    . '"amount":420000,"currency":"eur","description":"Order 57: annual plan",'
    . '"payment_method_types":["card"],"metadata":{"deal_id":"57",'
    . '"order":"A-2024-0057"},"shipping":null,"status":"succeeded"}}}';
my $padded = $event . (' ' x (1024 - length $event));

my $pretty = $event;
$pretty =~ s/([{,])"/$1\r\n\t\t"/g;
$pretty =~ s/":/" :\t/g;

my $long = 'x' x 70;
my $desc = encode_utf8("\"a\\\"quoted\\\" \\u00e9 Иван $long \\/ end\"");
my $escaped = '{"data":{"object":{"description":' . $desc
    . ',"metadata":{"deal_id":"\u0035\u0037"}}}}';

my $dups = '{' . join(',', map { "\"k$_\":\"" . ('v' x $_) . '"' } 1 .. 30)
    . ',"dup":"first","dup":"second"}';

my $list = '{"list":[' . join(',', map { "\"$_$long\"" } 0 .. 9) . ']}';

my @good = (
    ['deal', $event,   '57'],
    ['desc', $event,   'Order 57: annual plan'],
    ['deal', $padded,  '57'],
    ['deal', $pretty,  '57'],
    ['desc', $pretty,  'Order 57: annual plan'],
    ['desc', $escaped, encode_utf8("a\"quoted\" é Иван $long / end")],
    ['deal', $escaped, '57'],
    ['dup',  $dups,    'second'],
    ['last', $list,    "9$long"],
);

# errors past the first window, at the byte they are at

my $ctl = '{"a":"' . ('y' x 150) . "\x01" . '"}';
my $utf = '{"a":"' . ('y' x 100) . "\xc3\x28" . '"}';
my $open = '{"a":"' . ('y' x 130);
my $nul = $event;
my $comma = index($event, 'false,') + 5;
substr($nul, $comma, 1, "\0");
my $after = $padded . 'x';

my @bad = (
    [$ctl,  'JSON: control character in a string at byte 156'],
    [$utf,  'JSON: invalid UTF-8 at byte 106'],
    [$open, 'JSON: unterminated string at byte ' . length $open],
    [$nul,  "JSON: expected \",\" or \"}\" at byte $comma"],
    [$after, 'JSON: data after the value at byte 1024'],
    [substr($event, 0, 300), 'JSON: unterminated string at byte 300'],
    [substr($event, 0, -1), 'JSON: unexpected end at byte '
                            . (length($event) - 1)],
);

for my $mode ('base', 'default') {
    my $t = B24T->new;
    my $env = $mode eq 'base' ? { B24TRIGGER_JSON_SIMD => 'base' } : {};

    $t->emulator;
    $t->nginx(<<'EOF', env => $env);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field $f_deal  data.object.metadata.deal_id;
    b24trigger_field $f_desc  data.object.description;
    b24trigger_field $f_dup   dup;
    b24trigger_field $f_last  list.9;

    map $arg_f $f_value {
        deal  $f_deal;  desc  $f_desc;  dup  $f_dup;  last  $f_last;
    }

    server {
        listen %%LISTEN%%;

        location /v {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            b24trigger_dry_run on;
            b24trigger_reply "[$f_value]";
        }
    }
EOF

    for my $g (@good) {
        my ($f, $body, $want) = @$g;
        my $r = $t->post("/v?f=$f", $body, 'Content-Type' => $json);
        is("$r->{status} $r->{body}", "200 [$want]",
           "$mode: $f of a body of " . length($body) . ' bytes');
    }

    for my $b (@bad) {
        my ($body, $reason) = @$b;
        my $r = $t->post('/v?f=deal', $body, 'Content-Type' => $json);
        is($r->{status}, 400, "$mode: 400 for $reason");
        is_deeply($r->{json}, { error => 'body_invalid', reason => $reason },
                  "$mode: $reason");
    }

    is(scalar @{ $t->calls }, 0, "$mode: dry run, nothing sent");

    $t->finish;
}

done_testing;
