#!/usr/bin/perl

# b24trigger_field over JSON bodies: dot paths, array indexes, strings,
# unicode and escapes, numbers as written, booleans, null, objects and
# arrays as "not found", repeated names, dotted names, top-level arrays;
# malformed, deeply nested and invalid UTF-8 bodies answer 400, an
# unsupported content type 415; the variables in target, code,
# log_format and add_header; one parse per request.

use strict;
use warnings;
use utf8;

use Encode qw(encode_utf8);
use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field $f_deal     data.object.metadata.deal_id;
    b24trigger_field $f_code     data.object.code;
    b24trigger_field $f_str      data.object.name;
    b24trigger_field $f_item0    items.0.id;
    b24trigger_field $f_item2    items[2].id;
    b24trigger_field $f_int      n.int;
    b24trigger_field $f_neg      n.neg;
    b24trigger_field $f_big      n.big;
    b24trigger_field $f_huge     n.huge;
    b24trigger_field $f_real     n.real;
    b24trigger_field $f_exp      n.exp;
    b24trigger_field $f_true     b.t;
    b24trigger_field $f_false    b.f;
    b24trigger_field $f_null     z;
    b24trigger_field $f_obj      data.object;
    b24trigger_field $f_arr      items;
    b24trigger_field $f_missing  data.nothing.here;
    b24trigger_field $f_deep     a.b.c.d.e.f.g.h;
    b24trigger_field $f_uni      u;
    b24trigger_field $f_esc      esc;
    b24trigger_field $f_dotted   [a.b];
    b24trigger_field $f_nested   a.b;
    b24trigger_field $f_top      0.id;
    b24trigger_field $f_dup      dup;
    b24trigger_field $f_empty    empty;
    b24trigger_field $f_zero     "0";

    map $arg_f $f_value {
        deal     $f_deal;     str      $f_str;      item0    $f_item0;
        item2    $f_item2;    int      $f_int;      neg      $f_neg;
        big      $f_big;      huge     $f_huge;     real     $f_real;
        exp      $f_exp;      true     $f_true;     false    $f_false;
        null     $f_null;     obj      $f_obj;      arr      $f_arr;
        missing  $f_missing;  deep     $f_deep;     uni      $f_uni;
        esc      $f_esc;      dotted   $f_dotted;   nested   $f_nested;
        top      $f_top;      dup      $f_dup;      empty    $f_empty;
        zero     $f_zero;
    }

    log_format fields "fields deal=$f_deal str=$f_str "
                      "result=$b24trigger_result";

    server {
        listen %%LISTEN%%;

        # the value of ?f=NAME, as the reply body
        location /v {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            b24trigger_dry_run on;
            b24trigger_reply "[$f_value]";
        }

        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$f_deal;
            b24trigger_code $f_code;
            add_header X-Deal $f_deal always;
            add_header X-Item $f_item0 always;
            access_log %%TESTDIR%%/logs/fields.log fields;
        }

        # a field evaluated before the body is read is not found
        location /early {
            set $early "[$f_deal]";
            add_header X-Early $early always;
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$f_deal;
        }
    }
EOF

my $json = 'application/json';

sub value {
    my ($name, $body, $type) = @_;
    my $r = $t->post("/v?f=$name", $body,
                     'Content-Type' => defined $type ? $type : $json);
    return "$r->{status} $r->{body}";
}

my $doc = encode_utf8(<<'EOF');
{
  "data": {"object": {"name": "Иван \"Q\" Петров", "code": "c5u4m",
                      "metadata": {"deal_id": "57"}}},
  "items": [{"id": "i0"}, {"id": 1}, {"id": 22}],
  "n": {"int": 42, "neg": -7, "big": 9223372036854775807,
        "huge": 123456789012345678901234567890, "real": 100.00,
        "exp": 1.5E+3},
  "b": {"t": true, "f": false},
  "z": null,
  "a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": "deep"}}}}}}},
  "a.b": "dotted",
  "u": "\u041f\u0440\u0438\u0432\u0435\u0442 \ud83d\ude00",
  "esc": "tab\there \/ \\ \u0000!",
  "dup": "first", "dup": "second",
  "empty": "",
  "0": "zero"
}
EOF

is(value('deal', $doc), '200 [57]', 'nested objects');
is(value('str', $doc), encode_utf8('200 [Иван "Q" Петров]'),
   'a string, unicode and escaped quotes');
is(value('item0', $doc), '200 [i0]', 'an array index');
is(value('item2', $doc), '200 [22]', 'an index in brackets');
is(value('int', $doc), '200 [42]', 'an integer');
is(value('neg', $doc), '200 [-7]', 'a negative integer');
is(value('big', $doc), '200 [9223372036854775807]', 'the largest int64');
is(value('huge', $doc), '200 [123456789012345678901234567890]',
   'an integer beyond 64 bits, digit for digit');
is(value('real', $doc), '200 [100.00]', 'a decimal as written');
is(value('exp', $doc), '200 [1.5E+3]', 'an exponent as written');
is(value('true', $doc), '200 [true]', 'true');
is(value('false', $doc), '200 [false]', 'false');
is(value('null', $doc), '200 []', 'null is not found');
is(value('obj', $doc), '200 []', 'an object is not found');
is(value('arr', $doc), '200 []', 'an array is not found');
is(value('missing', $doc), '200 []', 'a missing path is not found');
is(value('deep', $doc), '200 [deep]', 'eight levels down');
is(value('uni', $doc), encode_utf8("200 [Привет \x{1F600}]"),
   '\u escapes and a surrogate pair');
is(value('esc', $doc), "200 [tab\there / \\ \0!]", 'escapes, \u0000');
is(value('dotted', $doc), '200 [dotted]', 'a name with a dot, in brackets');
is(value('nested', $doc), '200 []',
   'a dotted name is never taken for a path');
is(value('dup', $doc), '200 [second]', 'repeated names: the last wins');
is(value('empty', $doc), '200 []', 'an empty string');
is(value('zero', $doc), '200 [zero]', 'a numeric name in an object');

# top-level values

is(value('top', '[{"id":"t0"},{"id":"t1"}]'), '200 [t0]', 'top-level array');
is(value('item0', '{"items":{"0":{"id":"k"}}}'), '200 [k]',
   '"0" is a name in an object');
is(value('item0', '{"items":[]}'), '200 []', 'index past the end');
is(value('deal', '"just a string"'), '200 []', 'top-level scalar');
is(value('deal', "  \r\n\t{\"data\":{\"object\":{\"metadata\":"
               . "{\"deal_id\":5}}}}\n"), '200 [5]', 'white space around');
is(value('deal', "\xef\xbb\xbf{\"data\":{\"object\":{\"metadata\":"
               . "{\"deal_id\":6}}}}"), '200 [6]', 'a byte order mark');

# content types

is(value('int', '{"n":{"int":1}}', 'application/json; charset=utf-8'),
   '200 [1]', 'application/json with a charset');
is(value('int', '{"n":{"int":2}}', 'application/vnd.api+json'),
   '200 [2]', '+json');
is(value('int', '{"n":{"int":3}}', 'Application/JSON'), '200 [3]',
   'types are case-insensitive');

my $r = $t->request('POST', '/v?f=int', body => '{"n":{"int":4}}');
is("$r->{status} $r->{body}", '200 [4]', 'no content type: sniffed');

$r = $t->post('/v?f=int', '{"n":{"int":5}}', 'Content-Type' => 'text/plain');
is($r->{status}, 415, 'text/plain: 415');
is_deeply($r->{json}, { error => 'content_type_unsupported',
                        content_type => 'text/plain' }, '415 body');

$r = $t->post('/v?f=int', '', 'Content-Type' => 'text/plain');
is("$r->{status} $r->{body}", '200 []',
   'an empty body has no fields, whatever its type');

$r = $t->post('/v?f=int', '', 'Content-Type' => $json);
is("$r->{status} $r->{body}", '200 []', 'an empty JSON body: not found');

# bodies that are not JSON

my @bad = (
    ['{"a":1',            'JSON: unexpected end at byte 6'],
    ['{"a":1,}',          'JSON: expected a name at byte 7'],
    ["{'a':1}",           'JSON: expected a name at byte 1'],
    ['[1 2]',             'JSON: expected "," or "]" at byte 3'],
    ['{"a":01}',          'JSON: expected "," or "}" at byte 6'],
    ['{"a":-}',           'JSON: invalid number at byte 5'],
    ['{"a":tru}',         'JSON: unexpected character at byte 5'],
    ['{"a":"x"} x',       'JSON: data after the value at byte 10'],
    ["{\"a\":\"\xff\"}",  'JSON: invalid UTF-8 at byte 6'],
    ["{\"a\":\"\xc0\xaf\"}", 'JSON: invalid UTF-8 at byte 6'],
    ["{\"a\":\"\xed\xa0\x80\"}", 'JSON: invalid UTF-8 at byte 6'],
    ['{"a":"\ud800"}',    'JSON: unpaired surrogate in \\u escape at byte 6'],
    ['{"a":"\x"}',        'JSON: invalid escape at byte 6'],
    ["{\"a\":\"\n\"}",    'JSON: control character in a string at byte 6'],
    ['{"a":"abc',         'JSON: unterminated string at byte 9'],
    ['   ',               'JSON: unexpected end at byte 3'],
);

for my $b (@bad) {
    my ($body, $reason) = @$b;
    my $r = $t->post('/v?f=int', $body, 'Content-Type' => $json);
    is($r->{status}, 400, "400 for " . quote($body));
    is_deeply($r->{json}, { error => 'body_invalid', reason => $reason },
              "reason for " . quote($body));
}

sub quote {
    my ($s) = @_;
    $s =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# nesting: 64 levels are fine, 65 are not

my $deep64 = ('[' x 64) . (']' x 64);
my $deep65 = ('[' x 65) . (']' x 65);

$r = $t->post('/v?f=int', $deep64, 'Content-Type' => $json);
is("$r->{status} $r->{body}", '200 []', '64 levels: parsed');

$r = $t->post('/v?f=int', $deep65, 'Content-Type' => $json);
is($r->{status}, 400, '65 levels: 400');
is($r->{json}{reason}, 'JSON: nesting deeper than 64 at byte 64',
   '65 levels: reason');

$r = $t->post('/v?f=int', ('[' x 100000), 'Content-Type' => $json);
is($r->{status}, 400, '100000 open brackets: 400, no crash');

like($t->error_log,
     qr/\[info\].*invalid body, fields needed in location "\/v": JSON: /,
     'invalid bodies logged at info');

# the variables in target, code, add_header and log_format

$t->emu_reset;

$r = $t->post('/h', $doc, 'Content-Type' => $json);
is($r->{status}, 200, 'relayed');
is_deeply($r->{json}, { result => 'forwarded', target => 'DEAL_57',
                        code => 'c5u4m' }, 'target and code from the body');
is($r->{headers}{'x-deal'}, '57', 'add_header');
is($r->{headers}{'x-item'}, 'i0', 'add_header, an array element');

my $calls = $t->calls;
is(scalar @$calls, 1, 'one portal call');
is_deeply($calls->[0]{params}, { target => 'DEAL_57', code => 'c5u4m' },
          'the portal got the fields');

$r = $t->post('/h', '{"data":{"object":{"metadata":{"deal_id":"x"}}}}',
              'Content-Type' => $json);
is($r->{status}, 422, 'a field that makes a bad target: 422');

$r = $t->post('/h', '{"data":', 'Content-Type' => $json);
is($r->{status}, 400, 'target needs a field of an invalid body: 400');
is($r->{json}{error}, 'body_invalid', '... body_invalid');

is(scalar @{ $t->calls }, 1, 'nothing more reached the portal');

$r = $t->post('/early', '{"data":{"object":{"metadata":{"deal_id":"8"}}}}',
              'Content-Type' => $json);
is($r->{status}, 200, 'a field read in the rewrite phase ...');
is($r->{headers}{'x-early'}, '[]', '... is not found there');
is($r->{json}{target}, 'DEAL_8', '... and found later on');

# one parse per request, however many fields

my $before = () = $t->error_log =~ /body parsed as json/g;

$r = $t->post('/h', $doc, 'Content-Type' => $json);
is($r->{status}, 200, 'several fields in one request');

$t->stop;

SKIP: {
    skip 'nginx built without --with-debug: no debug log', 1
        unless `$t->{nginx} -V 2>&1` =~ /--with-debug/;

    my $after = () = $t->error_log =~ /body parsed as json/g;
    is($after - $before, 1, 'the body was parsed once');
}

like($t->slurp($t->dir . '/logs/fields.log'),
     qr/^fields deal=57 str=\\xD0\\x98.* result=forwarded$/m,
     'log_format with fields');

$t->finish;
$t->secret_nowhere;

done_testing;
