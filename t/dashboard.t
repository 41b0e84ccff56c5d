#!/usr/bin/perl

# The status page: the status location answers a browser (Accept:
# text/html, or ?format=html) with an HTML page, its script and style
# sheet as ?asset=, under a strict Content-Security-Policy; JSON and
# Prometheus answers stay as they were.  Headless Chromium (Debian's
# chromium, driven by playwright-core: t/lib/dashboard.js) opens it, sees
# the counters and the recent events, opens a dead letter's story,
# replays it with the page's button (after a reload: the page gets the
# new token) and sees it delivered, in the page and at the emulator; a page of another origin cannot replay; a target,
# code and portal error made of markup show as text.  The screenshot it
# takes is doc/dashboard.png (DASHBOARD_PNG=doc/dashboard.png keeps it).

use strict;
use warnings;

use Test::More;
use JSON::PP;
use B24T;

my $root = $B24T::ROOT;

# make test installs both (PKG_TEST, tools/deps-node.sh): missing, fail

ok(-x ($ENV{CHROMIUM} || '/usr/bin/chromium'),
   'chromium is installed (apt-get install chromium)')
    && ok(-d "$root/t/node/node_modules/playwright-core",
          'playwright-core is installed (tools/deps-node.sh)')
    or do { done_testing; exit 1 };

# the compiled-in files are those of src/dashboard/

my $made = `perl "$root/tools/dashboard-assets.pl"`;
is($?, 0, 'tools/dashboard-assets.pl runs');
ok($made eq B24T->slurp("$root/src/ngx_http_b24trigger_status_assets.c"),
   'src/ngx_http_b24trigger_status_assets.c is up to date with '
   . 'src/dashboard/ (make remakes it)');

my $t = B24T->new;
my $token = B24T::random_secret(16);
my $spool = $t->dir . '/spool';
my $dir = $t->dir;
my $evil_port = B24T::free_port();
chmod 0711, $dir;

$t->emulator(args => ['--bucket', 0]);
$t->nginx(<<"EOF");
    b24trigger_portal main http://%%EMU%%/rest/1/%%SECRET%%/
                      rate=100r/s burst=100;
    b24trigger_queue $spool backoff=100ms backoff_max=200ms;

    server {
        listen %%LISTEN%%;

        b24trigger_verify token header=X-Token;
        b24trigger_secret $token;
        b24trigger_target \$http_x_target;
        b24trigger_code \$http_x_code;

        location /hook/stripe { b24trigger_pass main; }
        location /hook/tilda  { b24trigger_pass main; }
        location /queue {
            b24trigger_pass main;
            b24trigger_delivery queue;
        }

        location = /manage { b24trigger_status manage=on; }
        location = /status { b24trigger_status; }
    }

    server {
        listen 127.0.0.1:$evil_port;
        root $dir/evil;
        default_type text/html;
    }
EOF

my $base = "http://127.0.0.1:$t->{port}";
my $html = 'text/html,application/xhtml+xml,application/xml;q=0.9,'
           . 'image/avif,image/webp,*/*;q=0.8';

# what a browser gets, and what every other client still gets

my $r = $t->request('GET', '/manage', headers => [Accept => $html]);
is($r->{status}, 200, 'browser: 200');
like($r->{headers}{'content-type'}, qr{^text/html; charset=utf-8},
     'browser: the HTML page');
like($r->{body}, qr{<script src="\?asset=app\.js" defer></script>},
     'the page: its script from the same location');
unlike($r->{body}, qr{<script(?![^>]*\bsrc=)}i, 'the page: no inline script');
unlike($r->{body}, qr{<style|\sstyle=}i, 'the page: no inline style');
unlike($r->{body}, qr{\son\w+=}i, 'the page: no event handler attribute');
unlike($r->{body}, qr{https?://}, 'the page: nothing from elsewhere');

my $csp = $r->{headers}{'content-security-policy'} || '';
like($csp, qr/^default-src 'self'; /, 'CSP: default-src self');
like($csp, qr/script-src 'self';/, 'CSP: script-src self, no inline');
like($csp, qr/style-src 'self';/, 'CSP: style-src self, no inline');
like($csp, qr/frame-ancestors 'none'/, 'CSP: no frame');
unlike($csp, qr/unsafe/, 'CSP: nothing unsafe');
is($r->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options: DENY');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'nosniff');
is($r->{headers}{'cache-control'}, 'no-store', 'not cached');

is($t->request('GET', '/status?format=html')->{headers}{'content-type'},
   'text/html; charset=utf-8', '?format=html: the page');

$r = $t->request('GET', '/status?asset=app.js');
is($r->{headers}{'content-type'}, 'text/javascript; charset=utf-8',
   'app.js: JavaScript');
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'app.js: nosniff');
like($r->{body}, qr/textContent/, 'app.js: the script');
unlike($r->{body}, qr/innerHTML|outerHTML|insertAdjacentHTML|document\.write/,
       'app.js: never writes markup');

$r = $t->request('GET', '/status?asset=app.css');
is($r->{headers}{'content-type'}, 'text/css; charset=utf-8',
   'app.css: a style sheet');

$r = $t->request('GET', '/status?asset=favicon.svg');
is($r->{headers}{'content-type'}, 'image/svg+xml', 'favicon.svg: an icon');

$r = $t->request('GET', '/status?asset=../../etc/passwd');
is($r->{status}, 404, 'an unknown asset: 404');
is($r->{json}{error}, 'not_found', 'an unknown asset: JSON error');

$r = $t->request('GET', '/status');
is($r->{headers}{'content-type'}, 'application/json', 'no Accept: JSON');
ok($r->{json}{version}, 'no Accept: the counters');

$r = $t->request('GET', '/status', headers => [Accept => '*/*']);
is($r->{headers}{'content-type'}, 'application/json', 'curl: JSON');

$r = $t->request('GET', '/status',
                 headers => [Accept => 'application/json, text/html']);
is($r->{headers}{'content-type'}, 'application/json',
   'JSON asked for by name: JSON');

$r = $t->request('GET', '/status', headers => [Accept =>
    'application/openmetrics-text;version=1.0.0;q=0.5,'
    . 'text/plain;version=0.0.4;q=0.4,*/*;q=0.1']);
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'Prometheus: its text format');

$r = $t->request('GET', '/status?view=events', headers => [Accept => $html]);
ok($r->{json} && $r->{json}{events}, 'view= with a browser\'s Accept: JSON');

$r = $t->request('GET', '/status?format=json', headers => [Accept => $html]);
is($r->{headers}{'content-type'}, 'application/json',
   '?format=json with a browser\'s Accept: JSON');

is($t->request('HEAD', '/status?format=html')->{status}, 200, 'HEAD: 200');

# webhooks to show: forwarded, refused, and markup where data goes

my $img = '<img src=x onerror="window.__xss=1">';
my @ok = ('X-Token' => $token);

for my $n (1 .. 3) {
    is($t->post('/hook/stripe', '{}', @ok, 'X-Target' => "DEAL_$n",
                'X-Code' => 'paid')->{status}, 200, "DEAL_$n forwarded");
}

is($t->post('/hook/tilda', '{}', @ok, 'X-Target' => 'LEAD_4',
            'X-Code' => $img)->{status}, 200,
   'a code that is markup: forwarded');
is($t->post('/hook/tilda', '{}', @ok, 'X-Target' => $img)->{status}, 422,
   'a target that is markup: refused');
is($t->post('/hook/stripe', '{}', 'X-Token' => 'nope',
            'X-Target' => 'DEAL_5')->{status}, 401, 'a wrong token: refused');

# two dead letters: the portal says "method not found", with markup

my %id;

for my $n (7, 8) {
    $t->emu_config(faults => [{ mode => 'method_not_found',
        error_description => '<img src=x onerror="window.__xss=3">' }]);
    $r = $t->post('/queue', '{}', @ok, 'X-Target' => "DEAL_$n",
                  'X-Code' => 'late');
    is($r->{status}, 202, "DEAL_$n queued");
    $id{$n} = $r->{json}{id};
    ok($t->wait_until(sub { -f "$spool/dead/$id{$n}.json" }, 10),
       "DEAL_$n: a dead letter");
}

$t->emu_reset;

# the other origin: a page that tries to read the token and to replay

mkdir "$dir/evil";
open my $fh, '>', "$dir/evil/index.html" or die;
print $fh <<"EOF";
<!DOCTYPE html>
<html><body>
<iframe name="sink"></iframe>
<form id="f" method="post" target="sink"
      action="$base/manage?action=replay&amp;id=$id{8}"></form>
<script>
(async function () {
  var s = '$base/manage', r = {};
  try {
    var x = await fetch(s + '?view=token');
    r.token = await x.text();
  } catch (e) { r.token_error = String(e); }
  try {
    await fetch(s + '?action=replay&id=$id{8}',
                { method: 'POST', mode: 'no-cors' });
    r.simple_post = 'sent';
  } catch (e) { r.simple_post = String(e); }
  try {
    var y = await fetch(s + '?action=replay&id=$id{8}',
                        { method: 'POST',
                          headers: { 'X-B24trigger-Token': r.token || 'x' } });
    r.token_post = y.status;
  } catch (e) { r.token_post_error = String(e); }
  document.querySelector('iframe').addEventListener('load', function () {
    window.__result = r;
    window.__done = true;
  });
  document.getElementById('f').submit();
})();
</script>
</body></html>
EOF
close $fh;
chmod 0755, "$dir/evil";
chmod 0644, "$dir/evil/index.html";

# the browser

my $png = "$dir/dashboard.png";
my $job = encode_json({
    page => "$base/manage", readonly => "$base/status",
    evil => "http://127.0.0.1:$evil_port/", dead => $id{7},
    reload => $t->master_pid + 0,
    screenshot => $png,
});

my $out = `node "$root/t/lib/dashboard.js" '$job' 2>&1`;
my $b = eval { decode_json((split /\n/, $out)[-1]) } || {};
is($b->{error}, undef, 'the browser ran every step') or diag($out);

is($b->{status}, 200, 'page: 200 to the browser');
like($b->{type} || '', qr{^text/html}, 'page: HTML to the browser');
like($b->{version} || '', qr/^version \d/, 'page: the version');
like($b->{webhooks} || '', qr{/hook/stripe.*/hook/tilda}s,
     'page: the counters per location');
like($b->{webhooks} || '', qr/token_invalid 1/,
     'page: why webhooks were refused');
like($b->{portals} || '', qr/main/, 'page: the portal');
like($b->{queues} || '', qr/\Q$spool\E/, 'page: the queue');
cmp_ok($b->{latency_bars} || 0, '==', 13, 'page: the latency chart');

my @events = @{ $b->{events} || [] };
ok((grep { /forwarded.*DEAL_1/ } @events), 'page: the recent events');
ok((grep { /dead.*DEAL_7/ } @events), 'page: the dead event');
ok((grep { index($_, $img) >= 0 } @events) >= 2,
   'page: a target and a code of markup shown as text');

like($b->{dead_row} || '', qr/DEAL_7/, 'page: the dead letter');
like($b->{detail} || '', qr/queued.*dead/s, 'page: the event\'s story');
like($b->{detail_dead} || '', qr/"reason": "portal_error"/,
     'page: the dead letter\'s file');
ok(index($b->{detail} || '', '<img src=x onerror="window.__xss=3">') >= 0,
   'page: the portal\'s error description shown as text');
is_deeply($b->{xss}, { flag => undef, imgs => 0, scripts => 1 },
          'page: no markup from the data ran or was made');

ok($b->{new_token}, 'a reload before Replay: a new token');
ok($b->{replayed}, 'Replay: the dead letter left the list');
ok($b->{delivered_in_page}, 'Replay: delivered, in the page');
is($b->{filter_result}, 2, 'filter: result=rejected, the two');
is($b->{filter_target}, 1, 'filter: target=DEAL_2, the one');
is($b->{problem}, '', 'page: no problem shown');
my @console = @{ $b->{console} || [] };
my $seven = $id{7};
is(scalar(grep { /status of 403 .*\Q?action=replay&id=$seven\E$/ }
           @console), 1, 'console: the one POST refused after the reload');
is_deeply([grep { !/^(log|info|debug):/ && !/status of 403 .*action=replay/ }
           @console], [],
          'page: no other error in the console (no CSP violation)');

ok(!-f "$spool/dead/$id{7}.json", 'Replay: no longer a dead letter');
ok($t->wait_until(sub {
    grep { ($_->{status} || 0) == 200 && $_->{target} eq 'DEAL_7' }
         @{ $t->calls }
}, 10), 'Replay: delivered at the emulator');

like($t->error_log, qr/status action refused in location "\/manage" for client 127\.0\.0\.1: token_invalid/,
     'Replay after the reload: the old token refused first');
like($t->error_log, qr/\[notice\] .*dead letter "\Q$seven\E" for target "DEAL_7" replayed through status location "\/manage" by client 127\.0\.0\.1/,
     'Replay: a notice line');

is_deeply($b->{readonly}, { buttons => 0, note => JSON::PP::true,
                            rows => 1 },
          'without manage=on: the dead letter, no buttons, a note');

# the other origin could do nothing

my $e = $b->{evil} || {};
is($e->{token}, undef, 'other origin: cannot read the token');
like($e->{token_error} || '', qr/TypeError|Failed to fetch/,
     'other origin: the token fetch fails (no CORS)');
like($e->{token_post_error} || '', qr/TypeError|Failed to fetch/,
     'other origin: a POST with a token header is stopped at the preflight');
ok(-f "$spool/dead/$id{8}.json", 'other origin: the dead letter stays');
ok(!grep({ $_->{target} eq 'DEAL_8' } @{ $t->calls }),
   'other origin: the portal was not called');

my $refused = () = $t->error_log =~ /status action refused in location "\/manage" for client 127\.0\.0\.1: cross_site/g;
cmp_ok($refused, '>=', 2,
       'other origin: its fetch and its form refused as cross_site');

# the screenshot

my $shot = B24T->slurp($png);
ok(length($shot) > 20000 && substr($shot, 0, 8) eq "\x89PNG\r\n\x1a\n",
   'a screenshot of the page');

if ($ENV{DASHBOARD_PNG}) {
    open my $o, '>:raw', $ENV{DASHBOARD_PNG} or die "$ENV{DASHBOARD_PNG}: $!";
    print $o $shot;
    close $o;
}

$t->finish;
$t->secret_nowhere;

done_testing;
