#!/usr/bin/perl

# b24trigger_cluster with a Redis that requires a password: AUTH from
# password=file: (and from the URL), the de-duplication shared; a wrong
# password keeps the link down with Redis's reason in the error log and
# webhooks forwarded with node-local state.  The password is never in a
# log line (at debug level), a reply, the status page or nginx -t.

use strict;
use warnings;

use Test::More;
use B24T;

my $pw = 'rpw' . B24T::random_secret(24);
my $wrong = 'bad' . B24T::random_secret(24);

my $t = B24T->new;
my $dir = $t->dir;

sub pwfile {
    my ($name, $value) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh "$value\n";
    close $fh;
    chmod 0600, "$dir/$name";
    return "$dir/$name";
}

my $good = pwfile('good.pw', $pw);
my $bad = pwfile('bad.pw', $wrong);

$t->emulator(args => ['--bucket', 0]);
my $rport = $t->redis(password => $pw);

sub conf {
    my ($cluster) = @_;
    return <<"EOF";
    $cluster
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m ttl=10m;

    server {
        listen %%LISTEN%%;

        b24trigger_verify none;
        b24trigger_target DEAL_\$arg_id;
        b24trigger_dedup events \$http_x_event_id;

        location /sync { b24trigger_pass main; }
        location = /status { b24trigger_status; }
    }
EOF
}

my $name = "redis://127.0.0.1:$rport/1";

# the password from a file

$t->nginx(conf("b24trigger_cluster redis://%%REDIS%%/1 password=file:$good;"),
          workers => 2);

ok($t->wait_until(sub {
       (($t->request('GET', '/status')->{json} || {})->{cluster_up} || {})
           ->{$name} }, 10),
   'AUTH from file: link up');

my $r = $t->post('/sync?id=1', '{}', 'X-Event-Id' => 'evt_a1');
is($r->{json}{result}, 'forwarded', 'AUTH from file: forwarded');

like($t->redis_cli('-n', 1, 'GET', 'b24t:events:evt_a1'), qr/^d$/m,
     'AUTH from file: the key is in Redis under the default prefix');

$r = $t->post_settled('/sync?id=1', '{}', 'X-Event-Id' => 'evt_a1');
is($r->{json}{result}, 'duplicate', 'AUTH from file: duplicate');

$t->request('GET', '/status');
$t->request('GET', '/status?format=prometheus');

# a wrong password: the link stays down, node-local dedup serves

$t->reload(conf("b24trigger_cluster redis://%%REDIS%%/1 password=file:$bad;"),
           workers => 2);

ok($t->wait_log(qr/cluster link to "\Q$name\E" is down \(127\.0\.0\.1:$rport refused the connection: WRONGPASS/, 10),
   'wrong password: the reason is Redis\'s');

$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_a2');
is($r->{json}{result}, 'forwarded', 'wrong password: forwarded');

$r = $t->post('/sync?id=2', '{}', 'X-Event-Id' => 'evt_a2');
is($r->{json}{result}, 'duplicate', 'wrong password: node-local dedup');

is($t->redis_cli('-n', 1, 'EXISTS', 'b24t:events:evt_a2'), "0\n",
   'wrong password: nothing written to Redis');

$t->request('GET', '/status');

# no password configured at all: NOAUTH

$t->reload(conf('b24trigger_cluster redis://%%REDIS%%/1;'), workers => 2);

ok($t->wait_log(qr/refused the connection: NOAUTH/, 10),
   'no password: NOAUTH said');

# the password in the URL

$t->reload(conf("b24trigger_cluster redis://:$pw\@%%REDIS%%/1;"),
           workers => 2);

ok($t->wait_until(sub {
       (($t->request('GET', '/status')->{json} || {})->{cluster_up} || {})
           ->{$name} }, 10),
   'password in the URL: link up');

$r = $t->post('/sync?id=3', '{}', 'X-Event-Id' => 'evt_a3');
is($r->{json}{result}, 'forwarded', 'password in the URL: forwarded');

like($t->redis_cli('-n', 1, 'GET', 'b24t:events:evt_a3'), qr/^d$/m,
     'password in the URL: the key is in Redis');

$t->request('GET', '/status');

my ($rc, $out) = $t->nginx_test(
    conf("b24trigger_cluster redis://:$pw\@%%REDIS%%/1;"));
is($rc, 0, 'nginx -t passes');
ok(index($out, $pw) < 0, 'nginx -t: no password');

$t->stop;

$t->secret_nowhere('no Redis password in logs, replies or status',
                   $pw, $wrong);

ok(index($t->error_log, 'rpw') < 0, 'not even a part of it');

$t->check_logs;

done_testing();
