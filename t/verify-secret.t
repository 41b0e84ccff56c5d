#!/usr/bin/perl

# b24trigger_secret: literal, file:PATH (first line, its newline trimmed)
# and env:NAME, several at once (rotation); files are read at
# configuration load, so "nginx -s reload" picks up a rotated secret.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(hmac_sha256_hex);
use B24T;
use B24TV;

my $t = B24T->new;
my $lit = B24T::random_secret(24);
my $old = B24T::random_secret(24);
my $new = B24T::random_secret(24);
my $env = B24T::random_secret(24);
my $file = $t->dir . '/github.secret';

sub write_secret {
    my ($value) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh "$value\n";
    close $fh;
    chmod 0600, $file;
}

sub sig { 'sha256=' . hmac_sha256_hex($_[1], $_[0]) }

my $http = http_block(
    location(path => '/gh', verify => 'github',
             secrets => ["file:$file", $lit, 'env:B24T_GH_SECRET']),
);

write_secret($old);

$t->emulator;
$t->nginx($http, env => { B24T_GH_SECRET => $env });

my $r;
my $body = '{"zen":"' . B24T::random_secret(8) . '"}';

$r = $t->post('/gh?deal=1', $body, 'X-Hub-Signature-256' => sig($old, $body));
forwarded($t, $r, 1, 'secret from a file, newline trimmed');

$r = $t->post('/gh?deal=2', $body, 'X-Hub-Signature-256' => sig($lit, $body));
forwarded($t, $r, 2, 'literal secret');

$r = $t->post('/gh?deal=3', $body, 'X-Hub-Signature-256' => sig($env, $body));
forwarded($t, $r, 3, 'secret from the environment');

$r = $t->post('/gh?deal=4', $body,
              'X-Hub-Signature-256' => sig("$old\n", $body));
refused($t, $r, 'signature_invalid', 'the newline is not part of it');

$r = $t->post('/gh?deal=4', $body, 'X-Hub-Signature-256' => sig($new, $body));
refused($t, $r, 'signature_invalid', 'new secret before the reload');

# rotate the file, reload

write_secret($new);

my %before = map { $_ => 1 } $t->worker_pids;
$t->reload;

# until the old workers are gone, one of them may still take a connection
for (1 .. 200) {
    last unless grep { $before{$_} } $t->worker_pids;
    select undef, undef, undef, 0.05;
}

$r = $t->post('/gh?deal=4', $body, 'X-Hub-Signature-256' => sig($new, $body));
forwarded($t, $r, 4, 'new secret after the reload');

$r = $t->post('/gh?deal=5', $body, 'X-Hub-Signature-256' => sig($old, $body));
refused($t, $r, 'signature_invalid', 'old secret after the reload');

$r = $t->post('/gh?deal=5', $body, 'X-Hub-Signature-256' => sig($lit, $body));
forwarded($t, $r, 5, 'literal secret after the reload');

$t->finish;
$t->secret_nowhere;
nothing_leaked($t, 'no webhook secret in any log', $lit, $old, $new, $env);

done_testing;
