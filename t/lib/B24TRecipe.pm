package B24TRecipe;

# The recipes of the documentation, run as they are written.  A recipe is
# the ```nginx block after "<!-- recipe: NAME -->" in README.md; its lines
# up to the first "location" go to the http level, the rest into a server
# of the test, next to the portal "crm" (the emulator) and the zone
# "replays", as README.md's recipes say.
#
#   my $t = B24T->new; $t->emulator;
#   my $snippet = B24TRecipe::run($t, 'stripe',
#                                 env => { STRIPE_HOOK_KEY => 'k' });

use strict;
use warnings;

use B24T;

sub snippet {
    my ($name) = @_;

    open my $fh, '<', "$B24T::ROOT/README.md" or die "README.md: $!";
    local $/;
    my $doc = <$fh>;

    return $1
        if $doc =~ /<!-- recipe: \Q$name\E -->\s*```nginx\n(.*?)^```/ms;

    die "recipe \"$name\" not found in README.md\n";
}


sub run {
    my ($t, $name, %opts) = @_;

    my $snippet = snippet($name);
    my $at = $snippet =~ /^location\b/m ? $-[0] : die "no location in $name";

    my $http = substr($snippet, 0, $at);
    my $server = substr($snippet, $at);
    my $extra = $opts{server} || '';

    $t->nginx(<<"EOF", env => $opts{env} || {});
b24trigger_portal crm http://%%EMU%%/rest/1/%%SECRET%%/;
b24trigger_dedup_zone replays:1m;
b24trigger_dedup_zone forms:1m;

$http
server {
    listen %%LISTEN%%;
$extra
$server
}
EOF

    return $snippet;
}

1;
