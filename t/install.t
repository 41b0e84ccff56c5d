#!/usr/bin/perl

# make install into a scratch DESTDIR lays the module out as Debian's own
# libnginx-mod-* packages do, the packaged nginx loads it from there, and
# make uninstall removes it again.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $d = $t->dir . '/root';
my $root = $B24T::ROOT;

my $out = `make -s -C $root install DESTDIR=$d 2>&1`;
is($?, 0, 'make install') or diag($out);

my $so = "$d/usr/lib/nginx/modules/ngx_http_b24trigger_module.so";
ok(-f $so, 'module in /usr/lib/nginx/modules');
is((stat $so)[2] & 07777, 0644, 'mode 644');

my $snippet = "$d/usr/share/nginx/modules-available/mod-http-b24trigger.conf";
is($t->slurp($snippet),
   "load_module modules/ngx_http_b24trigger_module.so;\n",
   'modules-available snippet');

is(readlink("$d/etc/nginx/modules-enabled/50-mod-http-b24trigger.conf"),
   '/usr/share/nginx/modules-available/mod-http-b24trigger.conf',
   'enabled through modules-enabled, as Debian does');

# the packaged nginx with the installed tree as its prefix, the way
# /etc/nginx/nginx.conf includes modules-enabled/*.conf

mkdir "$d/usr/share/nginx";
symlink('../../lib/nginx/modules', "$d/usr/share/nginx/modules");

open my $fh, '>', "$d/nginx.conf" or die;
print $fh <<"EOF";
include $snippet;
pid $d/nginx.pid;
error_log $d/error.log;
events { }
http {
    client_body_temp_path $d/body;
    b24trigger_portal main https://example.bitrix24.com/rest/1/abcdefgh12345678/;
    server {
        listen 127.0.0.1:${\ B24T::free_port()};
        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
        }
    }
}
EOF
close $fh;

$out = `$t->{nginx} -t -p $d/usr/share/nginx/ -c $d/nginx.conf -e stderr 2>&1`;
is($?, 0, 'the packaged nginx loads the installed module') or diag($out);

$out = `make -s -C $root uninstall DESTDIR=$d 2>&1`;
is($?, 0, 'make uninstall') or diag($out);
ok(!-e $so && !-e $snippet
   && !-l "$d/etc/nginx/modules-enabled/50-mod-http-b24trigger.conf",
   'uninstall removes all three');

done_testing;
