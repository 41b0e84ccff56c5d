#!/usr/bin/perl

# b24trigger_journal PATH: one JSON line per entry, the same object the
# API shows; mode 0600; renamed to PATH.1 when larger than max_size or
# older than max_age; no body unless bodies= asks (failed: only for
# rejected and failed webhooks), and never a secret in a body.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use B24T;

my $token = B24T::random_secret(16);

# the lines of a file, decoded
sub lines {
    my ($t, $file) = @_;
    my @l = map { $B24T::JSON->decode($_) }
            grep { /\S/ } split /\n/, $t->slurp($file);
    return @l;
}

sub world {
    my ($params) = @_;

    my $t = B24T->new;
    my $dir = $t->dir;
    chmod 0711, $dir;
    mkdir "$dir/j";
    chmod 0777, "$dir/j";

    $t->emulator(args => ['--bucket', 0, '--deny', 'DEAL_13']);
    $t->nginx(<<"EOF", workers => 2);
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_journal $dir/j/journal.jsonl $params;

    server {
        listen %%LISTEN%%;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token field=auth;
            b24trigger_secret $token;
            b24trigger_target DEAL_\$arg_id;
        }

        location = /status { b24trigger_status; }
    }
EOF
    return ($t, "$dir/j/journal.jsonl");
}

sub body { qq({"auth":"$_[0]","amount":"4200","card":"4242"}) }

# max_size, bodies=failed

my ($t, $file) = world('max_size=2k bodies=failed');

my $r = $t->post('/hook?id=1', body($token));
is($r->{status}, 200, 'forwarded');
$r = $t->post('/hook?id=13', body($token));
is($r->{status}, 502, 'failed at the portal');
$r = $t->post('/hook?id=2', body('wrong-' . $token));
is($r->{status}, 401, 'rejected');

ok($t->wait_until(sub { -f $file && lines($t, $file) >= 3 }, 5),
   'the lines are written within a second');

my @l = lines($t, $file);
my %by = map { $_->{result} => $_ } @l;

is((stat $file)[2] & 0777, 0600, 'the file is 0600');
ok(!exists $by{forwarded}{body}, 'bodies=failed: none for a forwarded one');
is($by{failed}{body}, '{"auth":"***","amount":"4200","card":"4242"}',
   'bodies=failed: a failed one\'s body, its secret masked');
is($by{rejected}{body}, body("wrong-***"),
   'bodies=failed: a rejected one\'s body, its secret masked');

# the same object as the API's

my $api = $t->request('GET', "/status?view=events&result=failed")
          ->{json}{events}[0];
my %line = %{ $by{failed} };
delete $line{body};
is_deeply(\%line, $api, 'a line is the API\'s entry');

# past max_size: renamed to PATH.1

for my $i (1 .. 20) {
    $t->post("/hook?id=$i", body($token));
    sleep 0.1 if $i % 5 == 0;
}

ok($t->wait_until(sub { -f "$file.1" }, 5), 'rotated to PATH.1');
ok($t->wait_log(qr/\[notice\] .*journal "\Q$file\E" rotated to "\Q$file.1\E"/),
   'rotated: a notice');

ok($t->wait_until(sub {
    my @all = (lines($t, "$file.1"), lines($t, $file));
    grep { $_->{seq} == 23 } @all;
}, 5), 'the last entry is written');

my @old = lines($t, "$file.1");
my @new = lines($t, $file);
ok(@old && @new, 'lines in both: ' . @old . ' and ' . @new);
cmp_ok(-s $file, '<', 2048 + 65536, 'the new file is small');
ok(!(grep { !$_->{seq} } @old, @new), 'every line is an entry');

my $all = join '', $t->slurp($file), $t->slurp("$file.1");
ok(index($all, $token) < 0, 'no webhook secret in the file');
ok(index($all, $t->secret) < 0, 'no portal secret in the file');

$t->finish;
$t->secret_nowhere;

# max_age, bodies off

($t, $file) = world('max_age=1s');

$t->post('/hook?id=1', body($token));
ok($t->wait_until(sub { -f $file && lines($t, $file) >= 1 }, 5),
   'max_age: a line');
sleep 1.2;
$t->post('/hook?id=2', body($token));
ok($t->wait_until(sub { -f "$file.1" }, 5), 'max_age: rotated');
ok($t->wait_until(sub { -f $file && lines($t, $file) >= 1 }, 5),
   'max_age: the new line in a new file');
is_deeply([map { $_->{seq} } lines($t, "$file.1")], [1], 'max_age: old');
is_deeply([map { $_->{seq} } lines($t, $file)], [2], 'max_age: new');

$t->post('/hook?id=13', body($token));
ok($t->wait_until(sub {
    grep { $_->{seq} == 3 } lines($t, $file), lines($t, "$file.1")
}, 5), 'a failed one');
ok(!(grep { exists $_->{body} } lines($t, $file), lines($t, "$file.1")),
   'bodies off: no body at all');

$t->finish;

# bodies=all

($t, $file) = world('bodies=all');

$t->post('/hook?id=1', body($token));
ok($t->wait_until(sub { -f $file && lines($t, $file) >= 1 }, 5),
   'bodies=all: a line');
is((lines($t, $file))[0]{body}, body('***'),
   'bodies=all: a forwarded one\'s body, masked');

$t->finish;

done_testing;
