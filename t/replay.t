#!/usr/bin/perl

# Replaying and dropping dead letters through the status location: only
# where it says "b24trigger_status manage=on" (elsewhere 403 with a JSON
# error), only by POST, from the same origin (Origin, Sec-Fetch-Site),
# with the CSRF token that ?view=token serves; nginx's own auth_basic and
# deny run first.  A dead letter made with the emulator's fault mode and
# replayed through the API is delivered at the emulator; every action is
# in the error log with the client's address, never the token.

use strict;
use warnings;

use Test::More;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1_base64);
use B24T;

my $t = B24T->new;
my $token = B24T::random_secret(16);
my $password = B24T::random_secret(12);
my $spool = $t->dir . '/spool';
my $dir = $t->dir;
chmod 0711, $t->dir;

open my $fh, '>', "$dir/htpasswd" or die;
print $fh "admin:{SHA}" . sha1_base64($password) . "=\n";
close $fh;
chmod 0644, "$dir/htpasswd";

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_queue $spool backoff=100ms backoff_max=200ms;

    server {
        listen %%LISTEN%%;

        location /queue {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $token;
            b24trigger_target \$arg_target;
            b24trigger_delivery queue;
        }

        location = /status  { b24trigger_status; }
        location = /manage  { b24trigger_status manage=on; }
        location = /denied  { b24trigger_status manage=on; deny all; }

        location = /guarded {
            b24trigger_status manage=on;
            auth_basic "b24trigger";
            auth_basic_user_file $dir/htpasswd;
        }
    }
EOF

my $origin = "http://127.0.0.1:$t->{port}";

# three dead letters: the portal says "method not found" (404) to each

my %id;

for my $n (1 .. 3) {
    $t->emu_config(faults => ['method_not_found']);
    my $r = $t->post("/queue?target=DEAL_$n", '{}', 'X-Token' => $token);
    is($r->{status}, 202, "DEAL_$n queued");
    $id{$n} = $r->{json}{id};
    ok($t->wait_until(sub { -f "$spool/dead/$id{$n}.json" }, 10),
       "DEAL_$n: a dead letter");
}

my ($one, $two) = ($id{1}, $id{2});

$t->emu_reset;

sub dead { -f "$spool/dead/$_[0].json" }

sub action {
    my ($path, $query, @h) = @_;
    return $t->request('POST', "$path?$query", headers => \@h);
}

# without manage=on: refused, and no token to be had

my $r = action('/status', "action=replay&id=$id{1}");
is($r->{status}, 403, 'no manage=on: 403');
is($r->{json}{error}, 'manage_off', 'no manage=on: JSON error');
is($t->request('GET', '/status?view=token')->{json}{error}, 'manage_off',
   'no manage=on: no token');
ok(dead($id{1}), 'no manage=on: the dead letter stays');

# the token

my $tok = $t->request('GET', '/manage?view=token');
is($tok->{status}, 200, 'token: served');
is($tok->{headers}{'cache-control'}, 'no-store', 'token: not cached');
ok(!exists $tok->{headers}{'access-control-allow-origin'},
   'token: no CORS header');
my $csrf = $tok->{json}{token};
like($csrf, qr/^[0-9a-f]{32}$/, 'token: 128 random bits');

# without the token, with a wrong one, with two

$r = action('/manage', "action=replay&id=$id{1}");
is($r->{status}, 403, 'no token: 403');
is($r->{json}{error}, 'token_invalid', 'no token: JSON error');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => 'f' x 32);
is($r->{json}{error}, 'token_invalid', 'wrong token: refused');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, 'X-B24trigger-Token' => 'x');
is($r->{json}{error}, 'token_invalid', 'two tokens: refused');

# from another site

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, Origin => 'http://evil.example');
is($r->{status}, 403, 'foreign Origin: 403');
is($r->{json}{error}, 'cross_site', 'foreign Origin: JSON error');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf,
            Origin => "http://127.0.0.1:$t->{port}.evil.example");
is($r->{json}{error}, 'cross_site', 'an Origin that only begins the same');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, 'Sec-Fetch-Site' => 'cross-site');
is($r->{json}{error}, 'cross_site', 'Sec-Fetch-Site cross-site: refused');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, 'Sec-Fetch-Site' => 'same-site');
is($r->{json}{error}, 'cross_site', 'Sec-Fetch-Site same-site: refused');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, Origin => 'http://127.0.0.1');
is($r->{json}{error}, 'cross_site', 'an Origin of another port: refused');

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, Origin => 'null');
is($r->{json}{error}, 'cross_site', 'Origin null: refused');

ok(dead($id{1}), 'refused: the dead letter stays');
is(scalar @{ $t->calls }, 0, 'refused: the portal was not called');
like($t->error_log, qr/\[warn\] .*status action refused in location "\/manage" for client 127\.0\.0\.1: cross_site \(Origin is not this site\)/,
     'refused: a warn line with the client');

# a GET does nothing; other methods are not allowed

$r = $t->request('GET', "/manage?action=replay&id=$id{1}",
                 headers => ['X-B24trigger-Token' => $csrf]);
ok($r->{json}{webhooks} || $r->{json}{version}, 'GET: the counters');
is($t->request('PUT', "/manage?action=replay&id=$id{1}",
               headers => ['X-B24trigger-Token' => $csrf])->{status},
   405, 'PUT: 405');
ok(dead($id{1}), 'GET, PUT: the dead letter stays');

# replayed from the same origin: delivered at the emulator

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf, Origin => $origin,
            'Sec-Fetch-Site' => 'same-origin');
is($r->{status}, 200, 'replay: 200');
is_deeply($r->{json}, { action => 'replay', ids => [$id{1}], count => 1 },
          'replay: what was done');
ok(!dead($id{1}), 'replay: no longer a dead letter');

ok($t->wait_until(sub {
    grep { ($_->{status} || 0) == 200 && $_->{target} eq 'DEAL_1' }
         @{ $t->calls }
}, 10), 'replay: delivered at the emulator');

ok($t->wait_until(sub {
    my $s = $t->request('GET', "/manage?view=event&id=$id{1}")->{json};
    $s && $s->{entries}[-1]{result} eq 'delivered';
}, 10), 'replay: delivered in the journal');

my $story = $t->request('GET', "/manage?view=event&id=$id{1}")->{json};
is_deeply([map { $_->{result} } @{ $story->{entries} }],
          ['queued', 'dead', 'replayed', 'delivered'], 'replay: the story');
is($story->{entries}[2]{addr}, '127.0.0.1', 'replay: who did it');
is($story->{dead_letter}, undef, 'replay: no dead letter any more');

like($t->error_log, qr/\[notice\] .*dead letter "\Q$one\E" for target "DEAL_1" replayed through status location "\/manage" by client 127\.0\.0\.1/,
     'replay: a notice line with the client');

# again: gone

$r = action('/manage', "action=replay&id=$id{1}",
            'X-B24trigger-Token' => $csrf);
is($r->{status}, 404, 'replay again: 404');
is($r->{json}{error}, 'not_found', 'replay again: not_found');

$r = action('/manage', 'action=replay&id=../../etc/passwd',
            'X-B24trigger-Token' => $csrf);
is($r->{status}, 404, 'an id that is a path: not found');

$r = action('/manage', 'action=replay', 'X-B24trigger-Token' => $csrf);
is($r->{json}{error}, 'id_missing', 'no id, no all=1: 400');

$r = action('/manage', "action=nope&id=$id{2}",
            'X-B24trigger-Token' => $csrf);
is($r->{json}{error}, 'action_unknown', 'unknown action: 400');

# drop

$t->emu_reset;

$r = action('/manage', "action=drop&id=$id{2}",
            'X-B24trigger-Token' => $csrf);
is_deeply($r->{json}, { action => 'drop', ids => [$id{2}], count => 1 },
          'drop: what was done');
ok(!dead($id{2}), 'drop: the file is gone');
ok(!-f "$spool/queue/$id{2}.json", 'drop: not queued');
like($t->error_log, qr/\[warn\] .*dead letter "\Q$two\E" for target "DEAL_2" dropped through status location "\/manage" by client 127\.0\.0\.1/,
     'drop: a warn line');

# behind auth_basic: the password first

$r = action('/guarded', "action=replay&all=1&target=DEAL_3",
            'X-B24trigger-Token' => $csrf);
is($r->{status}, 401, 'auth_basic: no password, 401');
ok(dead($id{3}), 'auth_basic: no password, the dead letter stays');

$r = action('/guarded', "action=replay&all=1&target=DEAL_3",
            'X-B24trigger-Token' => $csrf,
            Authorization => 'Basic ' . encode_base64("admin:nope", ''));
is($r->{status}, 401, 'auth_basic: wrong password, 401');
ok(dead($id{3}), 'auth_basic: wrong password, the dead letter stays');

is($t->request('GET', '/guarded?view=token')->{status}, 401,
   'auth_basic: no token without the password');

# deny all: nginx refuses before the module

$r = action('/denied', "action=replay&all=1&target=DEAL_3",
            'X-B24trigger-Token' => $csrf);
is($r->{status}, 403, 'deny: 403');
ok(!$r->{json}, 'deny: nginx\'s own page');
ok(dead($id{3}), 'deny: the dead letter stays');
unlike($t->error_log, qr/status action refused in location "\/denied"/,
       'deny: the module never saw it');

$r = action('/guarded', "action=replay&all=1&target=DEAL_3",
            'X-B24trigger-Token' => $csrf,
            Authorization => 'Basic ' . encode_base64("admin:$password", ''));
is($r->{status}, 200, 'auth_basic: with the password, 200');
is_deeply($r->{json}{ids}, [$id{3}], 'all=1 with a filter: the one');

ok($t->wait_until(sub {
    grep { ($_->{status} || 0) == 200 && $_->{target} eq 'DEAL_3' }
         @{ $t->calls }
}, 10), 'all=1: delivered at the emulator');
ok(!grep({ $_->{target} eq 'DEAL_2' } @{ $t->calls }),
   'the dropped one was never delivered');

is_deeply($t->request('GET', '/manage?view=dead')->{json},
          { dead => [], total => 0 }, 'no dead letters left');

my $log = $t->error_log;
ok(index($log, $csrf) < 0, 'the token is in no log line');
ok(index($log, $password) < 0, 'the password is in no log line');

$t->finish;
$t->secret_nowhere;

done_testing;
