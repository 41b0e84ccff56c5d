package B24TV;

# Helpers for the t/verify-*.t tests, on top of B24T: a relaying location
# per scheme, and the two assertions every verification test makes over
# and over:
#
#   forwarded($t, $r, $deal, $name)   200, and exactly one new portal call,
#                                     for DEAL_$deal
#   refused($t, $r, $error, $name)    401 {"error":$error}, the same word in
#                                     $b24trigger_error, no new call, and
#                                     one more info line
#
# Signatures are computed in the tests with Digest::SHA and MIME::Base64,
# never with the module's code.

use strict;
use warnings;

use Exporter 'import';
use Test::More;

our @EXPORT = qw(location http_block forwarded refused rejection_logged
                 nothing_leaked);

# a relaying location: the target is DEAL_$arg_deal, so that every request
# of a test can name its own call
sub location {
    my (%o) = @_;

    my $secrets = join ' ', map { qq{"$_"} } @{ $o{secrets} || [] };
    my $extra = $o{extra} || '';

    my $s = "        location = $o{path} {\n"
          . "            b24trigger_pass main;\n"
          . "            b24trigger_verify $o{verify};\n";
    $s .= "            b24trigger_secret $secrets;\n" if $secrets;
    $s .= "            b24trigger_target DEAL_\$arg_deal;\n"
        . "            b24trigger_code c1;\n"
        . "            add_header X-B24-Error \$b24trigger_error always;\n"
        . "            $extra\n"
        . "        }\n";

    return $s;
}

sub http_block {
    my (@locations) = @_;

    return "    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/;\n\n"
         . "    server {\n"
         . "        listen %%LISTEN%%;\n\n"
         . join("\n", @locations)
         . "    }\n";
}

sub forwarded {
    my ($t, $r, $deal, $name) = @_;

    $t->{b24tv_calls} ||= 0;

    is($r->{status}, 200, "$name: 200")
        or diag($r->{body} || $r->{error});
    is($r->{json} && $r->{json}{result}, 'forwarded', "$name: forwarded");

    my $calls = $t->calls;
    $t->{b24tv_calls}++;

    is(scalar @$calls, $t->{b24tv_calls}, "$name: one portal call");
    is(@$calls && $calls->[-1]{target}, "DEAL_$deal", "$name: its target");
}

sub refused {
    my ($t, $r, $error, $name) = @_;

    $t->{b24tv_calls} ||= 0;

    is($r->{status}, 401, "$name: 401")
        or diag($r->{body} || $r->{error});
    is_deeply($r->{json}, { error => $error }, "$name: $error");
    is($r->{headers}{'x-b24-error'}, $error,
       "$name: \$b24trigger_error is $error");
    is(scalar @{ $t->calls }, $t->{b24tv_calls}, "$name: nothing forwarded");

    # one info line per refusal, written before the reply is sent
    $t->{b24tv_refused}++;
    my $lines = () = $t->error_log =~ /\[info\] .* webhook rejected in /g;
    is($lines, $t->{b24tv_refused}, "$name: one info line");
}

# the one info line of a rejection
sub rejection_logged {
    my ($t, $location, $error, $reason) = @_;

    $reason = defined $reason ? $reason : qr/[^)]+/;

    my $re = qr/\[info\] .*b24trigger: webhook rejected in location /
           . qr/"\Q$location\E": \Q$error\E \($reason\)/;

    like($t->error_log, qr/$re/, "info line for $error in $location");
}

# none of the strings (secrets, signatures nginx computed and must not
# show) in replies, the access log or the error log, at any level; only
# nginx's own debug echo of the request ("http header:", "http request
# line:", "http args:") is set aside, since it prints what the sender sent
sub nothing_leaked {
    my ($t, $name, @strings) = @_;

    my @lines = grep {
        !/ http (header|request line|args|uri|exten): /
        && !/ (http alloc large header buffer|recv: )/
    } split /\n/, $t->error_log;

    my $seen = join "\n", @lines, $t->access_log,
        $t->slurp($t->dir . '/logs/stderr.log'),
        map { $_->{raw} || '' } @{ $t->{replies} };

    my @found = grep { index($seen, $_) >= 0 } @strings;

    ok(!@found, $name) or diag("found: @found");
}

1;
