#!/usr/bin/perl

# b24trigger_field over application/x-www-form-urlencoded bodies: "+" and
# %XX decoding, repeated fields (the last wins), PHP-style nested names
# a[b][0] and a[] appends, names that are not NAME[..] taken as they are,
# fields without "=", empty bodies; one parse per request.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field $f_name     name;
    b24trigger_field $f_deal     deal;
    b24trigger_field $f_ab0      a.b.0;
    b24trigger_field $f_ab0b     a[b][0];
    b24trigger_field $f_ab1      a.b.1;
    b24trigger_field $f_ab       a.b;
    b24trigger_field $f_a        a;
    b24trigger_field $f_l0       list.0;
    b24trigger_field $f_l1       list.1;
    b24trigger_field $f_l2       list.2;
    b24trigger_field $f_p1name   products.1.name;
    b24trigger_field $f_dotted   [a.b];
    b24trigger_field $f_flag     flag;

    map $arg_f $f_value {
        name    $f_name;    deal    $f_deal;    ab0     $f_ab0;
        ab0b    $f_ab0b;    ab1     $f_ab1;     ab      $f_ab;
        a       $f_a;       l0      $f_l0;      l1      $f_l1;
        l2      $f_l2;      p1name  $f_p1name;
        dotted  $f_dotted;  flag    $f_flag;
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

        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target LEAD_$f_deal;
            b24trigger_code $f_name;
        }
    }
EOF

my $form = 'application/x-www-form-urlencoded';

sub value {
    my ($name, $body, $type) = @_;
    my $r = $t->post("/v?f=$name", $body,
                     'Content-Type' => defined $type ? $type : $form);
    return "$r->{status} $r->{body}";
}

is(value('name', 'name=John+Smith&deal=5'), '200 [John Smith]',
   '"+" is a space');
is(value('name', 'name=%D0%98%D0%B2%D0%B0%D0%BD%20%2B%26%3D'),
   "200 [\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd +&=]", '%XX, upper and lower');
is(value('name', 'name=%d0%98'), "200 [\xd0\x98]", '%xx in lower case');
is(value('name', 'name=100%+sure%2'), '200 [100% sure%2]',
   'a malformed % is kept as it is');
is(value('name', 'name=a=b'), '200 [a=b]', '"=" in a value');
is(value('name', 'name=first&name=second'), '200 [second]',
   'repeated fields: the last wins');
is(value('name', 'deal=5'), '200 []', 'a missing field');
is(value('name', 'name='), '200 []', 'an empty value');
is(value('flag', 'a=1&flag&b=2'), '200 []', 'a field without "="');
is(value('name', '&&name=x&&'), '200 [x]', 'empty pairs are skipped');
is(value('name', 'na%6De=encoded+name'), '200 [encoded name]',
   'names are decoded too');

# PHP-style names

my $nested = 'a%5Bb%5D%5B0%5D=zero&a[b][1]=one&a[c]=c';
is(value('ab0', $nested), '200 [zero]', 'a[b][0] (encoded) at a.b.0');
is(value('ab0b', $nested), '200 [zero]', 'a path written a[b][0]');
is(value('ab1', $nested), '200 [one]', 'a[b][1] at a.b.1');
is(value('ab', $nested), '200 []', 'a.b is an array: not found');
is(value('a', $nested), '200 []', 'a is an object: not found');

my $list = 'list[]=x&list[]=y&other[]=o&list[]=z';
is(value('l0', $list), '200 [x]', 'the first a[] is a.0');
is(value('l1', $list), '200 [y]', 'the second a[] is a.1');
is(value('l2', $list), '200 [z]', 'the third a[] is a.2');

my $products = 'products[][name]=A&products[][name]=B&products[][name]=C';
is(value('p1name', $products), '200 [B]', 'products[][name] appends');

is(value('ab', 'a[b]c=1&a[b=2'), '200 []',
   'names not NAME[..][..] are not nested');
is(value('dotted', 'a.b=dot&a[b]=bracket'), '200 [dot]',
   'a dotted name, in brackets');
is(value('ab', 'a.b=dot'), '200 []', 'a dotted name is not a path');

# content types and empty bodies

is(value('name', 'name=x', "$form; charset=UTF-8"), '200 [x]',
   'a charset parameter');

my $r = $t->request('POST', '/v?f=name', body => 'name=sniffed');
is("$r->{status} $r->{body}", '200 [sniffed]',
   'no content type, not "{" or "[": a form');

is(value('name', ''), '200 []', 'an empty body');

# a form never fails to parse: any bytes are a form

is(value('name', "name=\xff\xfe%00"), "200 [\xff\xfe\0]",
   'bytes as they are, not UTF-8 checked');

# target and code from a form

$r = $t->post('/h', 'deal=77&name=web+form', 'Content-Type' => $form);
is($r->{status}, 200, 'relayed');
is_deeply($t->calls->[0]{params}, { target => 'LEAD_77', code => 'web form' },
          'the portal got the form fields');

$r = $t->post('/h', 'name=x', 'Content-Type' => $form);
is($r->{status}, 422, 'a missing field in the target: 422');
is(scalar @{ $t->calls }, 1, 'nothing more reached the portal');

$r = $t->post('/h', 'deal=5', 'Content-Type' => 'multipart/form-data; b=x');
is($r->{status}, 400, 'multipart/form-data without a boundary: 400');

$r = $t->post('/h', 'deal=5', 'Content-Type' => 'text/plain');
is($r->{status}, 415, 'text/plain: 415');

# one parse per request

$t->stop;

my %parses;
$parses{$_}++ for $t->error_log =~ /\*(\d+) b24trigger body parsed as form/g;
my @twice = grep { $parses{$_} > 1 } keys %parses;
ok(%parses && !@twice, 'at most one parse per request')
    or diag("parsed more than once: @twice");

$t->finish;

# paths nginx -t refuses

my $c = B24T->new;

for my $path ('', 'a..b', '.a', 'a.', 'a[]', 'a[b', 'a]b', 'a.[b]',
              join('.', ('x') x 65))
{
    my ($rc, $out) = $c->nginx_test("b24trigger_field \$x \"$path\";");
    isnt($rc, 0, "path \"$path\" refused");
    like($out, qr/\[emerg\].* invalid path "\Q$path\E" of variable "\$x": /,
         "path \"$path\": message");
}

my ($rc, $out) = $c->nginx_test("b24trigger_field \$x a; "
                                . "b24trigger_field \$x b;");
like($out, qr/\[emerg\].*duplicate "x" variable/, 'a variable declared twice');

($rc, $out) = $c->nginx_test("b24trigger_field \$x a[b.c][0].d;");
is($rc, 0, 'a[b.c][0].d is a valid path');

done_testing;
