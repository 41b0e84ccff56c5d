#!/usr/bin/perl

# "make deb" builds the Debian package the way Debian builds its nginx
# modules; the package has the right files and control fields, lintian
# finds no error, "dpkg -i" enables the module so that a configuration
# with no load_module of its own passes "nginx -t", "dpkg -r" disables
# it, and "dpkg --purge" leaves nothing behind.
#
# Root only (CI runs as root), and it changes the machine for a few
# seconds: the install, remove and purge hold a lock file so that two
# runs never meet on dpkg's lock.  It never touches a package or files it
# did not install: if the package, the module or its links are already
# there (installed by someone, or by "make install"), that part is
# skipped.  The build runs with DEB_BUILD_OPTIONS=nocheck to keep the
# test short; "make deb" itself keeps dh_auto_test ("nginx -t" with the
# module loaded).

use strict;
use warnings;

use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(time sleep);
use B24T;

my $PKG = 'libnginx-mod-http-b24trigger';
my $ROOT = $B24T::ROOT;
my $LOCK = '/run/lock/b24trigger-package-test.lock';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-b24trigger.conf';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-b24trigger.conf';
my $SO = '/usr/lib/nginx/modules/ngx_http_b24trigger_module.so';
my $NGINX = '/usr/sbin/nginx';     # the package is built for Debian's

plan skip_all => 'building and installing a package needs root'
    if $> != 0;

# no skip without dpkg-buildpackage: as root "make deb" installs what it
# needs (deps-deb), as on a fresh CI machine
plan skip_all => "$ROOT is not a git checkout: make deb builds from git's files"
    if system("git -C '$ROOT' rev-parse --git-dir >/dev/null 2>&1") != 0;

my $dir = tempdir('b24t-package-XXXXXX', TMPDIR => 1,
                  CLEANUP => !$ENV{B24T_LEAVE});
chmod 0755, $dir;

my $version = B24T::version();
my $arch = `dpkg --print-architecture`;
chomp $arch;

# the build: make deb itself, into a build directory of the test's own

my $out = do {
    local $ENV{DEB_BUILD_OPTIONS} = 'nocheck';
    `make -s -C '$ROOT' deb BUILD='$dir/build' 2>&1`;
};
is($?, 0, 'make deb') or diag($out);

my $deb = "$dir/build/${PKG}_${version}_$arch.deb";
ok(-f $deb, "make deb left ${PKG}_${version}_$arch.deb") or BAIL_OUT($out);
like($out, qr/^built \Q$deb\E$/m, 'make deb prints its path');

# the files

my (@files, %type);
for (split /\n/, `dpkg-deb -c '$deb'`) {
    my ($mode, $path) = /^(\S)\S+ +\S+ +\d+ +\S+ +\S+ +\.(\/\S*)/ or next;
    next if $path eq '/';
    $path =~ s{/$}{};
    push @files, $path;
    $type{$path} = $mode;
}

my $doc = "/usr/share/doc/$PKG";
for my $f ($SO, $AVAILABLE, '/usr/bin/b24trigger-emulator',
           '/usr/share/man/man1/b24trigger-emulator.1.gz',
           "$doc/README.md.gz", "$doc/copyright", "$doc/changelog.gz",
           "$doc/examples/nginx.conf.example", "$doc/tools/README.md.gz")
{
    ok(grep({ $_ eq $f } @files), "file list: $f");
}

# SECURITY.md and every page of doc/, compressed or not (dh_compress
# leaves files of 4 KB or less as they are)
for my $f ('SECURITY.md', map { s{^\Q$ROOT\E/}{}r }
                          glob("$ROOT/doc/*.md"), glob("$ROOT/doc/*/*.md"))
{
    ok(grep({ $_ eq "$doc/$f" || $_ eq "$doc/$f.gz" } @files),
       "file list: $doc/$f");
}

# the sender address snippets and their script (doc/sender-addresses.md)
my $share = "/usr/share/$PKG";
for my $f ("$share/sender-addresses",
           map { s{^\Q$ROOT\E/}{$share/}r } glob("$ROOT/senders/*.conf"))
{
    ok(grep({ $_ eq $f } @files), "file list: $f");
}
is($type{"$share/sender-addresses"}, '-', 'sender-addresses: a file');

my @extra = grep { $type{$_} ne 'd'
                   && !m{^(/usr/lib/nginx/modules/|/usr/share/nginx/
                           modules-available/|/usr/bin/b24trigger-emulator$
                           |/usr/share/man/man1/|\Q$doc\E/|\Q$share\E/
                           |/usr/share/lintian/overrides/\Q$PKG\E$)}x }
             @files;
is_deeply(\@extra, [], 'file list: nothing elsewhere');

my $snippet = `dpkg-deb --fsys-tarfile '$deb' | tar -xOf - '.$AVAILABLE'`;
is($snippet, "load_module modules/ngx_http_b24trigger_module.so;\n",
   'the snippet loads the module');

# the control fields

my %f;
for my $name (qw(Package Version Architecture Depends Recommends Section
                 Multi-Arch))
{
    $f{$name} = `dpkg-deb -f '$deb' $name`;
    chomp $f{$name};
}

is($f{Package}, $PKG, 'Package');
is($f{Version}, $version, 'Version: the one of debian/changelog');
is($f{Architecture}, $arch, 'Architecture');
is($f{Section}, 'httpd', 'Section');
is($f{'Multi-Arch'}, 'foreign', 'Multi-Arch');
like($f{Recommends}, qr/\bnginx\b/, 'Recommends: nginx');

my ($abi) = `cat /usr/share/nginx/src/debian/libnginx-mod.abisubstvars`
            =~ /^nginx:abi=(\S+)$/m;
ok($abi, "nginx-dev's ABI: " . ($abi || 'none'));
like($f{Depends}, qr/(^|, )\Q$abi\E(,|$)/, "Depends: $abi")
    if $abi;
like($f{Depends}, qr/\blibcurl4\b.*\blibjansson4\b/, 'Depends: the libraries');

# lintian, on what make deb built

my $changes = "$dir/build/deb/${PKG}_${version}_$arch.changes";
my $lintian = `lintian --allow-root '$changes' 2>&1`;
my @errors = grep { /^E: / } split /\n/, $lintian;
is_deeply(\@errors, [], 'lintian: no errors');
diag("lintian:\n$lintian") if $lintian =~ /\S/;

# the emulator command, as built (its interpreter is Debian's python3)

my $emu = "$dir/build/deb/src/debian/$PKG/usr/bin/b24trigger-emulator";
my $help = `'$emu' --help 2>&1`;
like($help, qr/^usage: b24trigger-emulator /, 'b24trigger-emulator --help');
like(`head -1 '$emu'`, qr{^#!/usr/bin/python3$}, 'emulator: /usr/bin/python3');

# install, use, remove, purge: one run at a time on this machine

open my $lock, '>>', $LOCK or die "$LOCK: $!";
my $until = time + 600;
until (flock $lock, LOCK_EX | LOCK_NB) {
    die "$LOCK: another package test holds it for 10 min" if time > $until;
    sleep 0.5;
}

# a test that died half way never leaves the package installed
my $installed = 0;
END {
    local $?;
    system("dpkg --purge $PKG >/dev/null 2>&1") if $installed;
}

my $status = `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`;
my @there = grep { -e $_ || -l $_ } ($SO, $AVAILABLE, $ENABLED,
                                     "$ENABLED.removed",
                                     '/usr/bin/b24trigger-emulator');

SKIP: {
    skip "$PKG is known to dpkg ($status): not installed over it", 1
        if $status =~ /\S/ && $status !~ /not-installed/;
    skip "already there, not installed over: @there", 1 if @there;

    # what existed before: the directories the package shares with others

    my %before = map { $_ => 1 } grep { -e $_ } @files;

    $installed = 1;
    dpkg('-i', $deb);

    is(readlink($ENABLED), $AVAILABLE, 'installed: enabled in modules-enabled');
    ok(-f $SO, 'installed: the module');

    my $port = B24T::free_port();
    my $secret = B24T::random_secret(16);

    my $conf = <<"EOF";
include /etc/nginx/modules-enabled/*.conf;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    b24trigger_portal main http://127.0.0.1:9/rest/1/$secret/;

    server {
        listen 127.0.0.1:$port;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify token header=X-Token;
            b24trigger_secret $secret;
            b24trigger_target DEAL_\$arg_id;
        }
    }
}
EOF

    write_file("$dir/nginx.conf", $conf);
    # nginx's own prefix (/usr/share/nginx, where modules/ leads to
    # /usr/lib/nginx/modules): the snippet's "modules/..." is relative to it
    my $t = `$NGINX -t -c '$dir/nginx.conf' 2>&1`;
    is($?, 0, 'installed: nginx -t, the module from modules-enabled')
        or diag($t);

    # the same without the include: the module really comes from there

    (my $bare = $conf) =~ s/^include .*\n//m;
    write_file("$dir/bare.conf", $bare);
    $t = `$NGINX -t -c '$dir/bare.conf' 2>&1`;
    like($t, qr/unknown directive "b24trigger_portal"/,
         'without the include: unknown directive');

    # disabled by "dpkg -r", as Debian's module packages are

    dpkg('-r', $PKG);
    ok(!-e $ENABLED && -l "$ENABLED.removed",
       'removed: the link renamed to .removed');
    ok(!-e $SO, 'removed: the module');

    $t = `$NGINX -t -c '$dir/nginx.conf' 2>&1`;
    like($t, qr/unknown directive "b24trigger_portal"/,
         'removed: nginx -t no longer loads it');

    dpkg('--purge', $PKG);
    $installed = 0;

    my @left = grep { (-e $_ || -l $_) && !$before{$_} }
               (@files, $ENABLED, "$ENABLED.removed");
    is_deeply(\@left, [], 'purged: nothing of it is left');
    is(`dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`, '',
       'purged: dpkg does not know it');
}

close $lock;

done_testing;


# dpkg with its own lock: apt or another dpkg may hold it for a while

sub dpkg {
    my (@args) = @_;
    my $until = time + 300;
    my $out;

    while (1) {
        $out = `dpkg @args 2>&1`;
        last if $? == 0 || $out !~ /lock/i || time > $until;
        sleep 1;
    }

    is($?, 0, "dpkg @args[0 .. $#args - 1]") or diag($out);
}

sub write_file {
    my ($name, $text) = @_;
    open my $fh, '>', $name or die "$name: $!";
    print $fh $text;
    close $fh;
}
