#!/usr/bin/perl

# Issue 13, finding 7: nginx -t accepted a portal URL with port 99999 (and
# port 0), leaving the portal to fail at every call.  A port outside
# 1-65535 is refused in every URL: a webhook portal's, an OAuth portal's
# and oauth_server=, without printing the URL.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $secret = $t->secret;
my $csecret = B24T::random_secret(32);

sub conf_fails {
    my ($name, $portal, $re) = @_;
    my ($rc, $out) = $t->nginx_test("$portal\n server { listen %%LISTEN%%;"
        . ' location /h { b24trigger_pass p; b24trigger_verify none;'
        . ' b24trigger_target DEAL_$arg_id; } }');
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message") or diag($out);
    ok(index($out, $secret) < 0 && index($out, $csecret) < 0,
       "$name: no secret in the message");
}

sub conf_ok {
    my ($name, $portal) = @_;
    my ($rc, $out) = $t->nginx_test("$portal\n server { listen %%LISTEN%%;"
        . ' location /h { b24trigger_pass p; b24trigger_verify none;'
        . ' b24trigger_target DEAL_$arg_id; } }');
    is($rc, 0, "$name: nginx -t passes") or diag($out);
}

my $oauth = "oauth=$dir/x.json client_id=a client_secret=$csecret";

for my $port (0, 65536, 99999, 1000000) {
    conf_fails("webhook portal, port $port",
               "b24trigger_portal p https://portal.example.com:$port"
               . '/rest/1/%%SECRET%%/;',
               qr/URL of portal "p" has an invalid port, 1-65535 expected/);

    conf_fails("OAuth portal, port $port",
               "b24trigger_portal p https://portal.example.com:$port/rest/"
               . " $oauth;",
               qr/URL of OAuth portal "p" has an invalid port, 1-65535 expected/);

    conf_fails("oauth_server, port $port",
               "b24trigger_portal p https://portal.example.com/rest/ $oauth"
               . " oauth_server=https://oauth.example.com:$port/;",
               qr/oauth_server of portal "p" has an invalid port, 1-65535 expected/);
}

conf_fails('loopback, port 0',
           'b24trigger_portal p http://127.0.0.1:0/rest/1/%%SECRET%%/;',
           qr/URL of portal "p" has an invalid port/);

conf_ok('port 1', 'b24trigger_portal p http://127.0.0.1:1/rest/1/%%SECRET%%/;');
conf_ok('port 65535',
        'b24trigger_portal p http://127.0.0.1:65535/rest/1/%%SECRET%%/;');

done_testing;
