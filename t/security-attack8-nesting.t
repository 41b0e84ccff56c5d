#!/usr/bin/perl

# Attacker review 8, rule "work before verification is bounded": the
# Prodamus scheme reads its form as PHP's $_POST (nested names) and builds
# the canonical JSON before the signature is checked.  Unsigned bodies to
# one worker:
#
#   - one name 10,000 levels deep (a[b][b][b]...);
#   - 999 names 63 levels deep each (PHP's own limit is 64), sharing a
#     long prefix, so that every comparison of the sort walks them;
#   - 999 names that differ only in their last key, 60 levels down.
#
# Found holding: each is refused with its JSON error, nothing reaches the
# portal, the worker stays and forwards a signed notification right
# after; its peak memory grows by 16 times the body at most (printed; not
# checked under valgrind).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use B24T;
use B24TParams qw(form prodamus_sign);

my $t = B24T->new;
my $secret = B24T::random_secret(24);

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF", workers => 1, log_level => 'info');
    b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=1000r/s burst=1000;

    b24trigger_field \$pd_order order_num;

    server {
        listen %%LISTEN%%;

        location = /pd {
            b24trigger_pass      crm;
            b24trigger_verify    prodamus;
            b24trigger_secret    $secret;
            b24trigger_target    DEAL_\$pd_order;
            b24trigger_code      paid;
        }
    }
EOF

my @ct = ('Content-Type' => 'application/x-www-form-urlencoded');
my ($worker) = $t->worker_pids;
my $n = 0;

sub peak {
    my $s = $t->slurp("/proc/$worker/status");
    return $s =~ /^VmHWM:\s+(\d+) kB/m ? $1 : 0;
}

sub valid {
    my ($name) = @_;
    my $f = form(order_num => ++$n, sum => '100.00',
                 'products[0][name]' => 'x');
    my $r = $t->post('/pd', $f, @ct, Sign => prodamus_sign($secret, $f));
    is($r->{status}, 200, "$name: a signed notification right after: 200");
    is(($t->worker_pids)[0], $worker, "$name: the same worker");
}

sub hostile {
    my ($name, $body, $status, $error) = @_;

    my $calls = @{ $t->calls };
    my $before = peak();
    my $start = time;
    my $r = $t->post('/pd', $body, @ct, Sign => '0' x 64);
    my $took = time - $start;

    is($r->{status}, $status, "$name: $status");
    is($r->{json} && $r->{json}{error}, $error, "$name: $error");
    is(scalar @{ $t->calls }, $calls, "$name: nothing at the portal");

    my $grown = peak() - $before;
    diag(sprintf '%s: %d bytes, answered in %.3f s, worker peak grew by '
         . '%d kB', $name, length $body, $took, $grown);
    SKIP: {
        skip 'peak memory under valgrind', 1 if $ENV{B24_VALGRIND};
        cmp_ok($grown, '<', 16 * length($body) / 1024 + 2048,
               "$name: the worker's peak grew by less than 16 x the body");
    }

    valid($name);
}

valid('warm-up');

my $deep = 'a' . ('%5Bb%5D' x 10000) . '=1&order_num=1';
hostile('10,000 levels', $deep, 401, 'signature_invalid');

my $prefix = 'p' . join('', map { "%5Bk$_%5D" } 1 .. 62);
hostile('999 names 63 levels deep',
        join('&', map { "$prefix%5B$_%5D=v" } 1 .. 999), 401,
        'signature_invalid');

my $mid = 'q' . join('', map { "%5Bk$_%5D" } 1 .. 59);
hostile('999 names differing 60 levels down',
        join('&', map { "$mid%5Bz$_%5D=v" } reverse 1 .. 999), 401,
        'signature_invalid');

$t->finish;
$t->secret_nowhere;

done_testing;
