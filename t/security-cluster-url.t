#!/usr/bin/perl

# b24trigger_cluster's URL with a password that has a "/", "?" or "#" in
# it (base64 passwords do), written raw: the userinfo ends at the last
# "@", and what nginx -t prints and logs never shows the password, nor
# any part of it.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;

my $half1 = B24T::random_secret(10);
my $half2 = B24T::random_secret(10);

sub conf {
    my ($url) = @_;
    return <<"EOF";
    b24trigger_cluster $url;
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_dedup_zone events:1m;
    server {
        listen %%LISTEN%%;
        location /h {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_\$arg_id;
            b24trigger_dedup events \$http_x_event_id;
        }
    }
EOF
}

for my $sep ('/', '?', '#', '/@') {
    for my $scheme ('redis', 'sentinel') {
        my $tail = $scheme eq 'redis' ? '127.0.0.1:6379' : '127.0.0.1/m';
        my $url = "\"$scheme://user:$half1$sep$half2\@$tail\"";
        my ($rc, $out) = $t->nginx_test(conf($url));
        ok(index($out, $half1) < 0 && index($out, $half2) < 0,
           "$scheme, \"$sep\": no part of the password printed (rc $rc)")
            or diag($out);
        is($rc, 0, "$scheme, \"$sep\": the password is the userinfo's, "
                   . "up to the last \"\@\"") or diag($out);
    }
}

# and the error names the URL without it
my ($rc, $out) = $t->nginx_test(conf("\"redis://u:$half1/$half2\@\""));
isnt($rc, 0, 'no host: refused');
like($out, qr{invalid b24trigger_cluster URL "redis://"},
     'the URL shown is what follows the userinfo');
ok(index($out, $half1) < 0 && index($out, $half2) < 0,
   'and nothing of the password') or diag($out);

done_testing;
