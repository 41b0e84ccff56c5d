#!/usr/bin/perl

# Senders speaking HTTP/2 (curl with prior knowledge): the body is read
# through nginx's HTTP/2 code into memory all the same, small, large and
# too large.

use strict;
use warnings;

use Test::More;
use B24T;

my $t = B24T->new;
my $dir = $t->dir;

$t->emulator;
$t->nginx(<<'EOF');
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;
    b24trigger_field $deal deal;

    server {
        listen %%LISTEN%% http2;

        location /hook {
            b24trigger_pass main;
            b24trigger_verify none;
            b24trigger_target DEAL_$deal;
            b24trigger_body_max 100k;
        }
    }
EOF

sub h2 {
    my ($file) = @_;
    my $out = `curl -s -m 10 --http2-prior-knowledge -o - -w '\\n%{http_version} %{http_code}' -X POST -H 'Content-Type: application/json' --data-binary \@$file http://127.0.0.1:$t->{port}/hook`;
    my ($body, $ver, $code) = $out =~ /^(.*)\n(\S+) (\d+)$/s;
    return ($ver, $code, $body);
}

sub put {
    my ($name, $content) = @_;
    open my $fh, '>', "$dir/$name" or die;
    print $fh $content;
    close $fh;
    return "$dir/$name";
}

my ($ver, $code, $body) = h2(put('small.json', '{"deal":57}'));
is("$ver $code", '2 200', 'small body over HTTP/2: forwarded');
like($body, qr/"target":"DEAL_57"/, 'small body: target from the body');

($ver, $code, $body) = h2(put('large.json',
                              '{"deal":58,"pad":"' . ('a' x 90000) . '"}'));
is("$ver $code", '2 200', '90 KB body over HTTP/2: forwarded');

($ver, $code, $body) = h2(put('huge.json', 'x' x 300000));
is("$ver $code", '2 413', '300 KB body over HTTP/2: 413');
like($body, qr/body_too_large/, '413: body');

is_deeply([map { $_->{target} } @{ $t->calls }], ['DEAL_57', 'DEAL_58'],
          'the portal got the two');

$t->finish;

done_testing;
