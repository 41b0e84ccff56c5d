#!/usr/bin/perl

# b24trigger_reply: the body of every 2xx answer (forwarded, ignored, dry
# run), with variables and body fields, its own content type or the
# location's default_type; error answers stay JSON.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    b24trigger_field $inv_id  InvId;

    server {
        listen %%LISTEN%%;

        location /json {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$arg_deal;
            b24trigger_ignore $arg_skip;
            b24trigger_reply '{"code":0}' content_type=application/json;
        }

        location /ok {
            b24trigger_pass main;
            b24trigger_verify token query=key;
            b24trigger_secret s3cret;
            b24trigger_target DEAL_$inv_id;
            b24trigger_reply OK$inv_id;
        }

        location /typed {
            default_type text/x-ack;
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            b24trigger_reply "$b24trigger_result $b24trigger_target";
        }

        location /empty {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
            b24trigger_reply "";
        }

        location /inherit {
            b24trigger_reply "from server";

            location /inherit/off {
                b24trigger_pass main;
                b24trigger_verify none;
                b24trigger_target DEAL_1;
            }
        }
    }
EOF

my $form = 'application/x-www-form-urlencoded';

my $r = $t->post('/json?deal=5', '');
is($r->{status}, 200, 'forwarded: 200');
is($r->{body}, '{"code":0}', 'forwarded: the reply');
is($r->{headers}{'content-type'}, 'application/json', 'its content type');
is($t->calls->[0]{target}, 'DEAL_5', 'the portal got the call');

$r = $t->post('/json?deal=5&skip=1', '');
is("$r->{status} $r->{body}", '200 {"code":0}', 'ignored: the reply too');

$r = $t->post('/json?deal=x', '');
is($r->{status}, 422, 'a bad target: 422');
is($r->{json}{error}, 'target_invalid', '... with the JSON error');


$r = $t->post('/ok?key=s3cret', 'OutSum=100.00&InvId=450009',
              'Content-Type' => $form);
is($r->{status}, 200, 'Robokassa-style: 200');
is($r->{body}, 'OK450009', 'OK$inv_id');
is($r->{headers}{'content-type'}, 'text/plain',
   'default_type when no content_type= (nginx default text/plain)');

$r = $t->post('/ok?key=wrong', 'InvId=1', 'Content-Type' => $form);
is($r->{status}, 401, 'refused: 401');
is($r->{headers}{'content-type'}, 'application/json',
   'errors stay JSON');
like($r->{body}, qr/^\{"error":/, 'the JSON error body');

$r = $t->post('/typed', '');
is($r->{body}, 'forwarded DEAL_1', '$b24trigger_* as they are when sent');
is($r->{headers}{'content-type'}, 'text/x-ack', 'the location default_type');

$r = $t->post('/empty', '');
is($r->{status}, 200, 'an empty reply');
is($r->{body}, '', 'no body');
is($r->{headers}{'content-length'}, '0', 'Content-Length: 0');

$r = $t->post('/inherit/off', '');
is($r->{body}, 'from server', 'inherited from an outer location');

# a portal error is not a 2xx: JSON as ever

$t->stop_emulator;

$r = $t->post('/json?deal=5', '');
is($r->{status}, 502, 'portal unreachable: 502');
is($r->{json}{error}, 'portal_unreachable', '... the JSON error');

$t->finish;
$t->secret_nowhere;

# configuration errors

my $c = B24T->new;

my ($rc, $out) = $c->nginx_test('b24trigger_reply OK type=text/plain;');
isnt($rc, 0, 'an unknown parameter is refused');
like($out, qr/invalid parameter "type=text\/plain"/, '... with its name');

($rc, $out) = $c->nginx_test('b24trigger_reply OK content_type=;');
isnt($rc, 0, 'an empty content_type is refused');

($rc, $out) = $c->nginx_test('b24trigger_reply A; b24trigger_reply B;');
like($out, qr/"b24trigger_reply" directive is duplicate/, 'twice: refused');

done_testing;
