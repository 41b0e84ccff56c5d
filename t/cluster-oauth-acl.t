#!/usr/bin/perl

# An OAuth portal with a cluster whose Redis user may not run scripts
# (an ACL without EVAL): the node says Redis refused the token pair, once
# per refresh, not that the link is down, and refreshes from its own
# pair; the calls go on.  No token in any log.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;
my $csecret = B24T::random_secret(32);
my $pw = B24T::random_secret(24);

$t->emulator(args => ['--oauth-app', "app.test:$csecret",
                      '--member-id', 'member1']);
$t->redis;
$t->redis_cli('ACL', 'SETUSER', 'b24', 'on', ">$pw", '~b:*', '+@all',
              '-eval', '-evalsha');

my $p0 = $t->emu_request('POST', '/_emu/oauth/issue', { expires_in => 30 });

chmod 0711, $dir;
mkdir "$dir/oauth";
chmod 0777, "$dir/oauth";
open my $fh, '>', "$dir/oauth/app.json" or die $!;
print $fh $B24T::JSON->encode({
    access_token => $p0->{access_token},
    refresh_token => $p0->{refresh_token},
    expires => $p0->{expires}, member_id => 'member1', domain => $t->emu });
close $fh;
chmod 0600, "$dir/oauth/app.json";

$t->nginx(<<"EOF", workers => 2);
    b24trigger_cluster redis://b24:$pw\@%%REDIS%% prefix=b:;
    b24trigger_portal app http://%%EMU%%/rest/
        oauth=%%TESTDIR%%/oauth/app.json client_id=app.test
        client_secret=$csecret oauth_server=http://%%EMU%%/;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass app;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF

ok($t->wait_until(sub {
       my $s = $t->request('GET', '/status')->{json} || {};
       (values %{ $s->{cluster_up} || {} })[0] }, 15),
   'linked as the ACL user');

my @r = $t->concurrent(map { { path => "/hook?id=$_", body => '' } } 1 .. 6);
is(scalar(grep { ($_->{status} || 0) == 200 } @r), 6,
   'at expiry: all forwarded');
is($t->emu_request('GET', '/_emu/oauth')->{refreshes}, 1, 'one refresh');

my @refused = grep { /redis refused the token pair of portal "app" \("NOPERM/ }
              $t->log_lines('error');
is(scalar @refused, 1, 'Redis\'s refusal said once');
unlike($t->error_log, qr/refreshed by this node alone/,
       'not said to be a link that is down');

my $s = eval { $B24T::JSON->decode($t->slurp("$dir/oauth/app.json")) } || {};
ok(($s->{refresh_token} || $p0->{refresh_token}) ne $p0->{refresh_token},
   'the new pair stored in the state file');
is($t->redis_cli('EXISTS', 'b:oauth:app') =~ /^0/ ? 1 : 0, 1,
   'nothing in Redis');

$t->finish;
$t->secret_nowhere('no token, client secret or password in replies or logs',
                   $csecret, $pw, $p0->{access_token}, $p0->{refresh_token},
                   grep { defined } $s->{access_token}, $s->{refresh_token});

done_testing;
