#!/usr/bin/perl

# nginx -t on OAuth portals: the URL is the application's client_endpoint,
# oauth= needs client_id= and client_secret=, a state file that is not a
# token pair or belongs to another portal is refused, a missing one is a
# warning (not installed yet); the client secret is never printed.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);

sub conf {
    my ($portal) = @_;
    return "$portal\n server { listen %%LISTEN%%; location /h {"
           . ' b24trigger_pass app; b24trigger_verify none;'
           . ' b24trigger_target DEAL_$arg_id; } }';
}

sub conf_fails {
    my ($name, $portal, $re) = @_;
    my ($rc, $out) = $t->nginx_test(conf($portal));
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $re, "$name: message") or diag($out);
    ok(index($out, $csecret) < 0, "$name: no client secret in the message");
}

sub conf_ok {
    my ($name, $portal, $re) = @_;
    my ($rc, $out) = $t->nginx_test(conf($portal));
    is($rc, 0, "$name: nginx -t passes") or diag($out);
    like($out, $re, "$name: message") if $re;
    ok(index($out, $csecret) < 0, "$name: no client secret in the message");
}

sub state {
    my ($text) = @_;
    open my $fh, '>', "$dir/state.json" or die $!;
    print $fh $text;
    close $fh;
}

my $p = "b24trigger_portal app https://portal.example.com/rest/"
        . " oauth=$dir/state.json client_id=app.1";

conf_ok('not installed yet', "$p client_secret=$csecret;",
        qr/\[warn\] \d+#\d+: OAuth portal "app" has no state file "[^"]+" yet: calls fail until the application is installed/);

state('{"access_token":"a1b2c3d4e5f6","refresh_token":"f6e5d4c3b2a1",'
      . '"expires":1,"member_id":"m","domain":"portal.example.com"}');

conf_ok('installed', "$p client_secret=$csecret;");
conf_ok('/rest without a slash',
        "b24trigger_portal app https://portal.example.com/rest"
        . " oauth=$dir/state.json client_id=app.1 client_secret=$csecret;");

$ENV{B24T_CSECRET} = $csecret;
my ($rc, $out) = $t->nginx_test(conf("$p client_secret=env:B24T_CSECRET;"),
                                env => { B24T_CSECRET => $csecret });
is($rc, 0, 'client_secret=env:') or diag($out);

conf_ok('oauth_server', "$p client_secret=$csecret"
        . ' oauth_server=https://oauth.bitrix24.tech/;');

conf_fails('no client_id',
           "b24trigger_portal app https://portal.example.com/rest/"
           . " oauth=$dir/state.json client_secret=$csecret;",
           qr/OAuth portal "app" needs "oauth=", "client_id=" and "client_secret="/);

conf_fails('no client_secret', "$p;",
           qr/OAuth portal "app" needs "oauth=", "client_id=" and "client_secret="/);

conf_fails('client_id without oauth',
           'b24trigger_portal app https://portal.example.com/rest/1/'
           . "abcdefgh/ client_id=app.1 client_secret=$csecret;",
           qr/"client_id=", "client_secret=" and "oauth_server=" of portal "app" need "oauth="/);

conf_fails('a webhook URL',
           'b24trigger_portal app https://portal.example.com/rest/1/abcdefgh/'
           . " oauth=$dir/state.json client_id=app.1 client_secret=$csecret;",
           qr/URL of OAuth portal "app" must look like "https:\/\/HOST\/rest\/"/);

conf_fails('plain http',
           "b24trigger_portal app http://10.0.0.1/rest/ oauth=$dir/state.json"
           . " client_id=app.1 client_secret=$csecret;",
           qr/plain http is only allowed for loopback hosts/);

conf_fails('plain http token server', "$p client_secret=$csecret"
           . ' oauth_server=http://oauth.example.com/;',
           qr/oauth_server of portal "app": plain http is only allowed for loopback hosts/);

state('{"access_token":"a1b2c3d4e5f6"}');
conf_fails('no refresh token', "$p client_secret=$csecret;",
           qr/state file "[^"]+" of portal "app" needs "access_token", "refresh_token" and "expires"/);

state('not json');
conf_fails('not JSON', "$p client_secret=$csecret;",
           qr/state file "[^"]+" of portal "app" is not a JSON object/);

state('{"access_token":"a1b2c3d4e5f6","refresh_token":"f6e5d4c3b2a1",'
      . '"expires":1,"domain":"other.bitrix24.com"}');
conf_fails('another portal', "$p client_secret=$csecret;",
           qr/state file "[^"]+" of portal "app" belongs to another portal, "other.bitrix24.com"/);

# b24trigger_oauth_install

unlink "$dir/state.json";

my ($rc2, $out2) = $t->nginx_test(
    'b24trigger_portal hook https://portal.example.com/rest/1/abcdefgh/;'
    . ' server { listen %%LISTEN%%;'
    . ' location /i { b24trigger_oauth_install hook; } }');
isnt($rc2, 0, 'install for a webhook portal: nginx -t fails');
like($out2, qr/"b24trigger_oauth_install" in location "\/i" names "hook", which is no OAuth portal/,
     'install for a webhook portal: message');

($rc2, $out2) = $t->nginx_test(
    "b24trigger_portal app https://portal.example.com/rest/"
    . " oauth=$dir/state.json client_id=app.1 client_secret=$csecret;"
    . ' server { listen %%LISTEN%%;'
    . ' location /i { b24trigger_oauth_install app; b24trigger_pass app;'
    . ' b24trigger_verify none; b24trigger_target DEAL_1; } }');
isnt($rc2, 0, 'install and pass: nginx -t fails');
like($out2, qr/location "\/i" has both "b24trigger_oauth_install" and "b24trigger_pass"/,
     'install and pass: message');

($rc2, $out2) = $t->nginx_test(
    "b24trigger_portal app https://portal.example.com/rest/"
    . " oauth=$dir/state.json client_id=app.1 client_secret=$csecret;"
    . ' server { listen %%LISTEN%%;'
    . ' location /i { b24trigger_oauth_install app; } }');
is($rc2, 0, 'an install location alone: nginx -t passes') or diag($out2);

done_testing;
