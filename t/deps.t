#!/usr/bin/perl

# Every make target that needs Debian packages asks for them before it
# builds or runs anything: as root it calls apt-get install, otherwise it
# prints the exact apt-get line and stops.  The targets run with PATH
# shims: dpkg-query reports every package missing, apt-get records what it
# was asked and fails, id says root or not, and the programs the targets
# would run next (prove, python3, clang, dpkg-buildpackage, ...) record
# that they ran.  If the install step ever stops running, the shims see a
# target go on without it.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $d = $t->dir;
my $root = $B24T::ROOT;

mkdir "$d/bin";

sub shim {
    my ($name, $body) = @_;
    open my $fh, '>', "$d/bin/$name" or die;
    print $fh "#!/bin/sh\n$body\n";
    close $fh;
    chmod 0755, "$d/bin/$name";
}

shim('dpkg-query', 'exit 1');
shim('apt-get', qq{echo "apt-get \$*" >> "$d/apt.log"; exit 1});
shim('id', qq{[ "\$1" = "-u" ] && { echo "\$SHIM_UID"; exit 0; }; }
           . q{exec /usr/bin/id "$@"});

for my $p (qw(prove python3 clang wrk valgrind dpkg-buildpackage lintian
              gcc cc cp))
{
    shim($p, qq{echo "ran $p" >> "$d/ran.log"; exit 1});
}

# what each target must ask for (some of its packages, not all)
my %wants = (
    'build'         => [qw(nginx nginx-dev libcurl4-openssl-dev
                           libjansson-dev libhiredis-dev dpkg-dev)],
    'test'          => [qw(nginx nginx-dev libcurl4-openssl-dev
                           libjansson-dev libhiredis-dev python3 curl
                           redis-server redis-sentinel chromium)],
    'test-valgrind' => [qw(nginx-dev libjansson-dev valgrind)],
    'demo'          => [qw(nginx nginx-dev libcurl4-openssl-dev
                           libjansson-dev python3)],
    'demo-cluster'  => [qw(nginx-dev libhiredis-dev python3 redis-server)],
    'bench'         => [qw(nginx-dev libjansson-dev wrk)],
    'soak'          => [qw(nginx-dev libjansson-dev python3)],
    'fuzz'          => [qw(nginx-dev libjansson-dev clang)],
    'fuzz-smoke'    => [qw(nginx-dev clang)],
    'deb'           => [qw(nginx-dev libjansson-dev libhiredis-dev debhelper
                           lintian)],
);

sub run_make {
    my ($target, $uid) = @_;

    unlink "$d/apt.log", "$d/ran.log";

    my $pid = open my $out, '-|';
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES T)};
        $ENV{PATH} = "$d/bin:$ENV{PATH}";
        $ENV{SHIM_UID} = $uid;
        open STDERR, '>&', \*STDOUT;
        exec('timeout', '60', 'make', '-C', $root, '--no-print-directory',
             $target) or exit 127;
    }

    my $text = do { local $/; <$out> };
    close $out;

    return ($? >> 8, $text, $t->slurp("$d/apt.log"),
            $t->slurp("$d/ran.log"));
}

for my $target (sort keys %wants) {

    # as root: apt-get install with the target's packages, then stop

    my ($rc, $text, $apt, $ran) = run_make($target, 0);

    isnt($rc, 0, "$target as root: stops when the install fails");
    like($apt, qr/^apt-get install -y\b/m,
         "$target as root: apt-get install ran");

    my ($line) = $apt =~ /^(apt-get install [^\n]*)/m;
    $line //= '';
    my @missing = grep { $line !~ /(?:^|\s)\Q$_\E(?:\s|$)/ }
                  @{$wants{$target}};
    is("@missing", '', "$target as root: asks for every package it needs");

    is($ran, '', "$target as root: nothing ran before the packages");
    unlike($text, qr/^built /m, "$target as root: nothing built");

    # not root: the exact command, no apt-get, nothing run

    ($rc, $text, $apt, $ran) = run_make($target, 1000);

    isnt($rc, 0, "$target as a user: stops");
    ($line) = $text =~ /^\s+(apt-get install -y [^\n]*)/m;
    $line //= '';
    @missing = grep { $line !~ /(?:^|\s)\Q$_\E(?:\s|$)/ }
               @{$wants{$target}};
    ok($line && "@missing" eq '',
       "$target as a user: prints the apt-get line with its packages")
        or diag($text);
    is($apt, '', "$target as a user: apt-get not called");
    is($ran, '', "$target as a user: nothing ran");
}

# installed packages: the step is silent and asks for nothing

shim('dpkg-query', q{echo 'install ok installed'});

my ($rc, $text, $apt) = run_make('deps-test', 0);
is($rc, 0, 'all installed: deps-test passes');
is($apt, '', 'all installed: apt-get not called');

done_testing();
