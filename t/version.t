#!/usr/bin/perl

# Each worker that starts the module says so in the error log at the info
# level, with the version kept in debian/changelog: once per worker, again
# after a reload, not at all at "notice" or when no location uses it.

use strict;
use warnings;

use Test::More;
use B24T;

my $version = B24T::version();
like($version, qr/^[0-9][0-9A-Za-z.+~:-]*$/, "debian/changelog: $version");

my $conf = <<'EOF';
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;

    server {
        listen %%LISTEN%%;

        location = /ping { return 204; }

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_1;
        }
    }
EOF

my $started = qr/\[info\] (\d+)#\d+: b24trigger \Q$version\E started$/;

sub started {
    my ($t) = @_;
    return map { /$started/ ? $1 : () } split /\n/, $t->error_log;
}

my $t = B24T->new;
$t->emulator;
$t->nginx($conf, workers => 2, log_level => 'info');

ok($t->wait_until(sub { started($t) == 2 }, 10), 'info: one line a worker')
    or diag($t->error_log);
is_deeply([sort { $a <=> $b } started($t)],
          [sort { $a <=> $b } $t->worker_pids], 'info: the workers\' pids');

is($t->post('/hook', '{}')->{status}, 200, 'the module works');

$t->reload;

ok($t->wait_until(sub { started($t) == 4 }, 10), 'reload: the new workers')
    or diag($t->error_log);

$t->finish;

# at "notice" the line is not written

my $n = B24T->new;
$n->emulator;
$n->nginx($conf, log_level => 'notice');
is($n->request('GET', '/ping')->{status}, 204, 'notice: nginx serves');
$n->finish;

unlike($n->error_log, qr/b24trigger \S+ started/, 'notice: no line');

# loaded, used by no location: the module starts nothing and says nothing

my $u = B24T->new;
$u->nginx(<<'EOF', log_level => 'info');
    server { listen %%LISTEN%%; location = /ping { return 204; } }
EOF
is($u->request('GET', '/ping')->{status}, 204, 'unused: nginx serves');
$u->finish;

like($u->error_log, qr/\[notice\].*start worker process/, 'unused: logged');
unlike($u->error_log, qr/b24trigger \S+ started/, 'unused: no line');

done_testing;
