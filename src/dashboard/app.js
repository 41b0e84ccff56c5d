/*
 * b24trigger status page.  Everything it shows comes from the JSON API
 * of the location that served it (doc/journal.md): the counters, the
 * journal (?view=events, polled with after=SEQ), one event's story
 * (?view=event), the dead letters (?view=dead).  Every value goes into
 * the page as text (textContent), never as markup: a target or an error
 * of a webhook is data, not HTML.  With manage=on the page gets the CSRF
 * token (?view=token) and sends it with Replay and Drop.
 */

(function () {
  'use strict';

  var BASE = window.location.pathname;
  var EVERY = 2000;
  var KEEP = 200;
  var RESULTS = ['forwarded', 'queued', 'delivered', 'retry', 'dead',
                 'rejected', 'ignored', 'duplicate', 'failed', 'dry_run',
                 'replayed', 'dropped'];
  var LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1',
            '2.5', '5', '10', '30', '+Inf'];
  var SVGNS = 'http://www.w3.org/2000/svg';

  var state = {
    last: 0,
    events: [],
    token: null,
    manage: false,
    detail: null,
    locations: {},
    gen: 0,
    busy: false
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) {
      e.textContent = String(text);
    }
    if (cls) {
      e.className = cls;
    }
    return e;
  }

  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) {
      e.setAttribute(k, String(attrs[k]));
    });
    if (text !== undefined) {
      e.textContent = String(text);
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function resultClass(r) {
    return RESULTS.indexOf(r) >= 0 ? 'r-' + r : '';
  }

  function when(ms) {
    if (!ms) {
      return '';
    }
    var d = new Date(ms);
    var p = function (n, w) { return String(n).padStart(w || 2, '0'); };
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-'
           + p(d.getDate()) + ' ' + p(d.getHours()) + ':'
           + p(d.getMinutes()) + ':' + p(d.getSeconds()) + '.'
           + p(d.getMilliseconds(), 3);
  }

  function problem(text) {
    var p = $('problem');
    p.textContent = text || '';
    p.hidden = !text;
  }

  /* a GET of the API: {status, json} */

  function get(query) {
    return fetch(BASE + '?' + query, {
      headers: { 'Accept': 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (res) {
      return res.json().then(function (j) {
        return { status: res.status, json: j };
      }, function () {
        return { status: res.status, json: null };
      });
    });
  }

  function query(params) {
    return Object.keys(params).filter(function (k) {
      return params[k] !== '' && params[k] !== undefined;
    }).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(params[k]);
    }).join('&');
  }

  function head(table, names) {
    var thead = table.tHead;
    clear(thead);
    var tr = el('tr');
    names.forEach(function (n) {
      var num = n.charAt(0) === '#';
      tr.appendChild(el('th', num ? n.slice(1) : n, num ? 'num' : ''));
    });
    thead.appendChild(tr);
  }

  function cell(tr, text, cls) {
    var td = el('td', text, cls);
    tr.appendChild(td);
    return td;
  }

  /* the counters: webhooks, portals, latency, buckets, queues */

  function counters(c) {
    $('version').textContent = 'version ' + (c.version || '?');
    webhooks(c.webhooks || {}, c.rejections || {});
    portals(c);
    latency(c.portal_latency_seconds || {});
    queues(c);
  }

  function webhooks(w, rej) {
    var table = $('webhooks-table');
    var body = table.tBodies[0];
    var locs = Object.keys(w);
    var seen = RESULTS.filter(function (r) {
      return locs.some(function (l) { return w[l][r]; });
    });

    clear(body);
    head(table, ['location', '#total'].concat(seen.map(function (r) {
      return '#' + r;
    })).concat(['refused because']));

    locs.forEach(function (l) {
      var tr = el('tr');
      var total = 0;
      state.locations[l] = 1;
      Object.keys(w[l]).forEach(function (r) { total += w[l][r]; });
      cell(tr, l);
      cell(tr, total, 'num');
      seen.forEach(function (r) {
        cell(tr, w[l][r] || 0, 'num ' + (w[l][r] ? resultClass(r) : ''));
      });
      cell(tr, Object.keys(rej[l] || {}).map(function (k) {
        return k + ' ' + rej[l][k];
      }).join(', '), 'wrap');
      body.appendChild(tr);
    });

    $('webhooks-none').hidden = locs.length > 0;
    locationOptions();
  }

  function portals(c) {
    var table = $('portals-table');
    var body = table.tBodies[0];
    var calls = c.portal_calls || {};
    var lat = c.portal_latency_seconds || {};
    var names = {};

    [calls, c.bucket_level || {}, c.portal_calls_in_flight || {}, lat]
      .forEach(function (o) {
        Object.keys(o).forEach(function (k) { names[k] = 1; });
      });

    clear(body);
    head(table, ['portal', '#calls', '#ok', 'errors', '#in flight',
                 'bucket', '#mean ms']);

    Object.keys(names).forEach(function (p) {
      var tr = el('tr');
      var o = calls[p] || {};
      var total = 0;
      var errors = [];
      var l = lat[p];
      Object.keys(o).forEach(function (k) {
        total += o[k];
        if (k !== 'ok') {
          errors.push(k + ' ' + o[k]);
        }
      });
      cell(tr, p);
      cell(tr, total, 'num');
      cell(tr, o.ok || 0, 'num r-ok');
      cell(tr, errors.join(', '),
           'wrap' + (errors.length ? ' r-failed' : ''));
      cell(tr, (c.portal_calls_in_flight || {})[p] || 0, 'num');
      tr.appendChild(bucket((c.bucket_level || {})[p] || 0));
      cell(tr, l && l.count ? Math.round(l.sum * 1000 / l.count) : '',
           'num');
      body.appendChild(tr);
    });

    $('portals-none').hidden = Object.keys(names).length > 0;
  }

  /* a bucket's level: the number and a bar (of 50, the default burst) */

  function bucket(level) {
    var td = el('td');
    var div = el('div', null, 'level');
    var s = svg('svg', { width: 100, height: 10, role: 'img' });
    var w = Math.min(100, level * 2);
    s.appendChild(svg('rect', { x: 0, y: 0, width: w, height: 10,
                                'class': 'fill' }));
    div.appendChild(s);
    div.appendChild(el('span', level));
    td.appendChild(div);
    return td;
  }

  /* one bar chart per portal: how many answers fell in each bucket */

  function latency(lat) {
    var box = $('latency-chart');
    var names = Object.keys(lat);
    clear(box);

    if (names.length === 0) {
      box.appendChild(el('p', 'No answer yet.', 'none'));
      return;
    }

    names.forEach(function (p) {
      var le = lat[p].le || {};
      var max = 1;
      var W = 40;
      var H = 100;
      var T = 16;
      var s = svg('svg', { width: LE.length * W + 20, height: H + T + 44,
                           role: 'img' });
      var g = svg('g', { transform: 'translate(0,' + T + ')' });
      LE.forEach(function (k) { max = Math.max(max, le[k] || 0); });
      s.appendChild(svg('text', { x: 10, y: 12, 'class': 'value' },
                        p + ': ' + (lat[p].count || 0) + ' answers, mean '
                        + Math.round((lat[p].sum || 0) * 1000
                                     / Math.max(1, lat[p].count || 0))
                        + ' ms'));
      s.appendChild(g);
      LE.forEach(function (k, i) {
        var v = le[k] || 0;
        var h = Math.round(v / max * H);
        var x = 10 + i * W;
        g.appendChild(svg('rect', { x: x + 4, y: 20 + H - h,
                                    width: W - 8, height: h,
                                    'class': 'bar' }));
        if (v) {
          g.appendChild(svg('text', { x: x + 6, y: 16 + H - h,
                                      'class': 'value' }, v));
        }
        g.appendChild(svg('text', { x: x + 4, y: H + 36 },
                          k === '+Inf' ? '>30s'
                          : (parseFloat(k) < 1
                             ? Math.round(parseFloat(k) * 1000) + 'ms'
                             : k + 's')));
      });
      g.appendChild(svg('line', { x1: 10, y1: H + 20,
                                  x2: 10 + LE.length * W, y2: H + 20,
                                  'class': 'axis' }));
      box.appendChild(s);
    });
  }

  function queues(c) {
    var table = $('queues-table');
    var body = table.tBodies[0];
    var names = Object.keys(c.queue_waiting || {});

    clear(body);
    head(table, ['queue', '#waiting', '#delivering', '#oldest s',
                 '#dead letters']);

    names.forEach(function (q) {
      var tr = el('tr');
      var dead = (c.dead_letters || {})[q] || 0;
      cell(tr, q);
      cell(tr, c.queue_waiting[q], 'num');
      cell(tr, (c.queue_delivering || {})[q] || 0, 'num');
      cell(tr, (c.queue_oldest_seconds || {})[q] || 0, 'num');
      cell(tr, dead, 'num' + (dead ? ' r-dead' : ''));
      body.appendChild(tr);
    });

    $('queues-none').hidden = names.length > 0;
  }

  /* the journal: filters, the first page, then what came after */

  function filters() {
    return {
      location: $('f-location').value,
      result: $('f-result').value,
      target: $('f-target').value.trim()
    };
  }

  function locationOptions() {
    var sel = $('f-location');
    var have = {};
    Array.prototype.forEach.call(sel.options, function (o) {
      have[o.value] = 1;
    });
    if (!have['']) {
      sel.appendChild(el('option', 'any')).value = '';
    }
    Object.keys(state.locations).sort().forEach(function (l) {
      if (!have[l]) {
        sel.appendChild(el('option', l)).value = l;
      }
    });
  }

  function resultOptions() {
    var sel = $('f-result');
    sel.appendChild(el('option', 'any')).value = '';
    RESULTS.forEach(function (r) {
      sel.appendChild(el('option', r)).value = r;
    });
  }

  function loadEvents(reset) {
    var f = filters();
    var gen;
    if (reset) {
      state.last = 0;
      state.events = [];
      state.gen += 1;
    }
    gen = state.gen;
    f.limit = 100;
    if (state.last) {
      f.after = state.last;
    }
    return get('view=events&' + query(f)).then(function (r) {
      if (r.status !== 200 || !r.json) {
        throw new Error('events: ' + (r.json ? r.json.error : r.status));
      }
      if (gen !== state.gen) {
        return;
      }
      var fresh = r.json.events || [];
      fresh.forEach(function (e) {
        if (e.location) {
          state.locations[e.location] = 1;
        }
      });
      state.events = fresh.concat(state.events).slice(0, KEEP);
      state.last = r.json.last || state.last;
      showEvents();
      locationOptions();
    });
  }

  function showEvents() {
    var table = $('events-table');
    var body = table.tBodies[0];
    clear(body);
    head(table, ['time', 'result', '#status', 'location', 'target', 'code',
                 'portal', 'error', '#attempts', '#ms', 'id']);

    state.events.forEach(function (e) {
      var tr = el('tr', null, 'clickable');
      tr.dataset.seq = e.seq;
      tr.dataset.result = e.result || '';
      cell(tr, when(e.time));
      cell(tr, e.result, resultClass(e.result));
      cell(tr, e.status || '', 'num');
      cell(tr, e.location);
      cell(tr, e.target, 'target wrap');
      cell(tr, e.code, 'code wrap');
      cell(tr, e.portal);
      cell(tr, [e.error, e.portal_error].filter(Boolean).join(' / '),
           'error wrap');
      cell(tr, e.attempts || '', 'num');
      cell(tr, e.latency_ms === undefined ? '' : e.latency_ms, 'num');
      cell(tr, e.id, 'id');
      if (e.id) {
        tr.addEventListener('click', function () { detail(e.id); });
      }
      body.appendChild(tr);
    });

    $('events-none').hidden = state.events.length > 0;
  }

  /* one event: its entries, oldest first, and its dead letter */

  function detail(id) {
    state.detail = id;
    return get('view=event&' + query({ id: id })).then(function (r) {
      var sec = $('detail');
      var table = $('detail-table');
      var body = table.tBodies[0];
      if (state.detail !== id) {
        return;
      }
      sec.hidden = false;
      $('detail-id').textContent = id;
      clear(body);
      head(table, ['time', 'result', '#status', '#portal status',
                   '#attempts', '#ms', '#portal ms', 'error',
                   'portal error', 'description', 'detail', 'addr']);
      ((r.json && r.json.entries) || []).forEach(function (e) {
        var tr = el('tr');
        tr.dataset.result = e.result || '';
        cell(tr, when(e.time));
        cell(tr, e.result, resultClass(e.result));
        cell(tr, e.status || '', 'num');
        cell(tr, e.portal_status || '', 'num');
        cell(tr, e.attempts || '', 'num');
        cell(tr, e.latency_ms, 'num');
        cell(tr, e.portal_time_ms, 'num');
        cell(tr, e.error, 'error');
        cell(tr, e.portal_error);
        cell(tr, e.portal_error_description, 'wrap');
        cell(tr, e.detail, 'wrap');
        cell(tr, e.addr);
        body.appendChild(tr);
      });
      $('detail-dead').textContent = r.json && r.json.dead_letter
        ? JSON.stringify(r.json.dead_letter, null, 2)
        : (r.status === 404 ? 'not in the journal any more' : 'none');
    });
  }

  /* the dead letters, with Replay and Drop where manage=on */

  function loadDead() {
    return get('view=dead&limit=100').then(function (r) {
      var table = $('dead-table');
      var body = table.tBodies[0];
      var list = (r.json && r.json.dead) || [];
      if (state.busy) {
        return;
      }
      clear(body);
      head(table, ['id', 'died', 'reason', 'location', 'target', 'code',
                   'portal', '#attempts', 'last error', '']);
      list.forEach(function (d) {
        var tr = el('tr');
        var le = d.last_error || {};
        var td;
        tr.dataset.id = d.id;
        cell(tr, d.id, 'id');
        cell(tr, when(d.dead && d.dead.at));
        cell(tr, d.dead && d.dead.reason, 'r-dead');
        cell(tr, d.location);
        cell(tr, d.target, 'target wrap');
        cell(tr, d.code, 'code wrap');
        cell(tr, d.portal);
        cell(tr, d.attempts, 'num');
        cell(tr, [le.status || '', le.error, le.error_description,
                  le.detail].filter(Boolean).join(' '), 'error wrap');
        td = cell(tr, null);
        if (state.manage) {
          td.appendChild(button('Replay', 'replay', d.id));
          td.appendChild(document.createTextNode(' '));
          td.appendChild(button('Drop', 'drop', d.id));
        }
        tr.querySelectorAll('td.id').forEach(function (c) {
          c.addEventListener('click', function () { detail(d.id); });
        });
        body.appendChild(tr);
      });
      $('dead-total').textContent = r.json ? '(' + r.json.total + ')' : '';
      $('dead-none').hidden = list.length > 0;
    });
  }

  function button(text, action, id) {
    var b = el('button', text, action);
    b.type = 'button';
    b.addEventListener('click', function () {
      var verb = action === 'drop' ? 'Drop' : 'Replay';
      if (action === 'drop' && !window.confirm(verb + ' ' + id + '?')) {
        return;
      }
      b.disabled = true;
      act(action, id, true).then(refresh, function (e) {
        problem(String(e.message || e));
        b.disabled = false;
      });
    });
    return b;
  }

  function loadToken() {
    return get('view=token').then(function (r) {
      state.manage = r.status === 200 && r.json && !!r.json.token;
      state.token = state.manage ? r.json.token : null;
      $('manage-off').hidden = state.manage;
    });
  }

  /* POST ?action=...&id=... with the token; a reload makes a new one */

  function act(action, id, again) {
    state.busy = true;
    return fetch(BASE + '?' + query({ action: action, id: id }), {
      method: 'POST',
      headers: { 'X-B24trigger-Token': state.token || '',
                 'Accept': 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (res) {
      return res.json().then(function (j) {
        return { status: res.status, json: j };
      }, function () { return { status: res.status, json: null }; });
    }).then(function (r) {
      state.busy = false;
      if (r.status === 403 && r.json && r.json.error === 'token_invalid'
          && again)
      {
        return loadToken().then(function () {
          return act(action, id, false);
        });
      }
      if (r.status !== 200) {
        throw new Error(action + ' ' + id + ': '
                        + (r.json ? r.json.error : r.status));
      }
      problem('');
      return r.json;
    }, function (e) {
      state.busy = false;
      throw e;
    });
  }

  function refresh() {
    return Promise.all([
      get('format=json').then(function (r) {
        if (r.json) {
          counters(r.json);
        }
      }),
      loadEvents(false),
      loadDead(),
      state.detail ? detail(state.detail) : null
    ]).then(function () {
      $('updated').textContent = 'updated ' + when(Date.now());
      document.body.dataset.refreshed =
        String(Number(document.body.dataset.refreshed || 0) + 1);
      problem('');
    }, function (e) {
      problem('cannot read the status: ' + (e.message || e));
    });
  }

  function loop() {
    refresh().then(function () {
      window.setTimeout(loop, EVERY);
    });
  }

  function start() {
    resultOptions();
    locationOptions();
    ['f-location', 'f-result'].forEach(function (id) {
      $(id).addEventListener('change', function () { loadEvents(true); });
    });
    $('f-target').addEventListener('change', function () {
      loadEvents(true);
    });
    $('filters').addEventListener('submit', function (ev) {
      ev.preventDefault();
      loadEvents(true);
    });
    $('f-clear').addEventListener('click', function () {
      $('f-location').value = '';
      $('f-result').value = '';
      $('f-target').value = '';
      loadEvents(true);
    });
    $('detail-close').addEventListener('click', function () {
      state.detail = null;
      $('detail').hidden = true;
    });
    loadToken().then(loop, loop);
  }

  document.addEventListener('DOMContentLoaded', start);
}());
