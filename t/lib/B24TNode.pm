package B24TNode;

# Providers' own npm packages (t/node/package.json, installed by
# tools/deps-node.sh in "make test") as signers and verifiers in the
# tests: run(JS, ARGS...) runs the JavaScript with node, in t/node so that
# require() finds the packages, ARGS in process.argv.slice(1); returns
# what it printed, without the final newline, and dies if it failed.
#
#   my $sig = B24TNode::run(q{
#       const { Signature } = require('@hubspot/api-client');
#       ...
#   }, $secret, $body);

use strict;
use warnings;

use B24T;

sub run {
    my ($js, @args) = @_;

    my $dir = "$B24T::ROOT/t/node";

    -d "$dir/node_modules"
        or die "t/node/node_modules is missing: run tools/deps-node.sh\n";

    my $pid = open(my $fh, '-|') // die "fork: $!";

    if ($pid == 0) {
        chdir $dir or die "$dir: $!";
        exec 'node', '-e', $js, '--', @args or die "node: $!";
    }

    my $out = do { local $/; <$fh> };
    close $fh or die "node failed (exit status $?) for: $js\n";

    $out = '' unless defined $out;
    $out =~ s/\n\z//;

    return $out;
}

1;
