#!/usr/bin/perl

# nginx -t catches configuration mistakes with a clear message, and fails
# closed: a relaying location without b24trigger_verify is an error.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;

sub conf_fails {
    my ($name, $http, $re, %o) = @_;
    my ($rc, $out) = $t->nginx_test($http, %o);
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message") or diag($out);
    ok(index($out, $t->secret) < 0, "$name: no secret in the message");
}

sub conf_ok {
    my ($name, $http, %o) = @_;
    my ($rc, $out) = $t->nginx_test($http, %o);
    is($rc, 0, "$name: nginx -t passes") or diag($out);
    return $out;
}

my $portal = 'b24trigger_portal main https://portal.example.com/rest/1/%%SECRET%%/;';

sub loc {
    my ($body) = @_;
    return "$portal\n server { listen %%LISTEN%%; location /h { $body } }";
}

conf_ok('minimal', loc('b24trigger_pass main; b24trigger_verify none;
                        b24trigger_target DEAL_$arg_id;'));

conf_fails('no verify', loc('b24trigger_pass main; b24trigger_target D_1;'),
    qr/\[emerg\].*"b24trigger_pass" in location "\/h" needs "b24trigger_verify" \(write "b24trigger_verify none" to accept unsigned webhooks\)/);

conf_fails('no target', loc('b24trigger_pass main; b24trigger_verify none;'),
    qr/\[emerg\].*"b24trigger_pass" in location "\/h" needs "b24trigger_target"/);

conf_fails('unknown portal', loc('b24trigger_pass other; b24trigger_verify none;
                                  b24trigger_target D_1;'),
    qr/\[emerg\].*names unknown portal "other"/);

conf_fails('unknown scheme', loc('b24trigger_pass main; b24trigger_verify magic;
                                  b24trigger_target D_1;'),
    qr/\[emerg\].*unknown verification scheme "magic"/);

conf_fails('token without secret',
    loc('b24trigger_pass main; b24trigger_verify token header=X-T;
         b24trigger_target D_1;'),
    qr/\[emerg\].*"b24trigger_verify" in location "\/h" needs "b24trigger_secret"/);

conf_fails('token without a place',
    loc('b24trigger_pass main; b24trigger_verify token;
         b24trigger_secret x; b24trigger_target D_1;'),
    qr/\[emerg\].*scheme "token" needs/);

conf_fails('secret file missing',
    loc('b24trigger_pass main; b24trigger_verify token header=X-T;
         b24trigger_secret file:%%TESTDIR%%/nope; b24trigger_target D_1;'),
    qr/\[emerg\].*cannot open secret file ".*nope"/);

conf_fails('secret env missing',
    loc('b24trigger_pass main; b24trigger_verify token header=X-T;
         b24trigger_secret env:B24T_NOT_SET; b24trigger_target D_1;'),
    qr/\[emerg\].*environment variable "B24T_NOT_SET" is not set/);

# a world-readable secret file: a warning, not an error

open my $fh, '>', "$dir/open-secret" or die;
print $fh "s3cr3t-value\n";
close $fh;
chmod 0644, "$dir/open-secret";

my $out = conf_ok('readable secret file',
    loc('b24trigger_pass main; b24trigger_verify token header=X-T;
         b24trigger_secret file:%%TESTDIR%%/open-secret;
         b24trigger_target D_1;'));
like($out, qr/\[warn\].*secret file ".*open-secret" is accessible by group or others \(mode 644\)/,
     'readable secret file: warning');
ok(index($out, 's3cr3t-value') < 0, 'readable secret file: not printed');

# portal URLs

for my $bad (['ftp://h/rest/1/%%SECRET%%/', qr/must start with "https:\/\/"/],
             ['https://h/1/%%SECRET%%/', qr/must look like "https:\/\/HOST\/rest\/USER_ID\/SECRET\/"/],
             ['https://h/rest/1/', qr/must look like/],
             ['https://h/rest/1/%%SECRET%%/crm.automation.trigger', qr/must look like/],
             ['https://h/rest/1/%%SECRET%%/?x=1', qr/must not have a query string/],
             ['https:///rest/1/%%SECRET%%/', qr/must look like/],
             ['http://10.0.0.1/rest/1/%%SECRET%%/', qr/plain http is only allowed for loopback hosts/],
             ['https://h/rest/1/%%SECRET%%-x/', qr/must look like/])
{
    conf_fails("portal URL $bad->[0]",
               "b24trigger_portal p $bad->[0];", qr/\[emerg\].*$bad->[1]/);
}

conf_ok('portal URL without the trailing slash',
        'b24trigger_portal p https://h.bitrix24.com/rest/1/%%SECRET%%;');
conf_ok('portal URL on a port, under a prefix',
        'b24trigger_portal p https://h:8443/crm/rest/7/%%SECRET%%/;');
conf_ok('plain http on loopback',
        'b24trigger_portal p http://127.0.0.1:9/rest/1/%%SECRET%%/;
         b24trigger_portal q http://localhost:9/rest/1/%%SECRET%%/;
         b24trigger_portal r http://[::1]:9/rest/1/%%SECRET%%/;');

conf_fails('portal URL from a missing file',
           'b24trigger_portal p file:%%TESTDIR%%/nope;',
           qr/cannot open secret file/);
conf_fails('portal URL from an unset variable',
           'b24trigger_portal p env:B24T_NOT_SET;',
           qr/environment variable "B24T_NOT_SET" is not set/);
conf_fails('duplicate portal', "$portal\n$portal", qr/duplicate portal "main"/);

for my $bad ('timeout=0', 'timeout=x', 'connect_timeout=', 'rate=2', 'burst=0',
             'retries=3', 'rate=2r/sX', 'rate=2r/m/', 'rate=r/s')
{
    conf_fails("portal parameter $bad",
               "b24trigger_portal p https://h/rest/1/%%SECRET%%/ $bad;",
               qr/invalid parameter "\Q$bad\E" of portal "p"/);
}

conf_ok('portal parameters',
        'b24trigger_portal p https://h/rest/1/%%SECRET%%/ timeout=5s
             connect_timeout=500ms rate=5r/s burst=250 wait=2s;');

conf_fails('b24trigger_pass twice',
    loc('b24trigger_pass main; b24trigger_pass main;'),
    qr/"b24trigger_pass" directive is duplicate/);

conf_fails('unknown method', loc('b24trigger_methods FETCH;'),
    qr/invalid value "FETCH"/);

conf_fails('body_max', loc('b24trigger_body_max lots;'),
    qr/"b24trigger_body_max" directive invalid value/);

done_testing;
