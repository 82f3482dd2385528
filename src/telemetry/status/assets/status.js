// cxpulse status page: plain JavaScript, no libraries. Reads /api/v1/ (live) or the data embedded
// by `cxpulse replay --report` (static), and redraws every `refresh_ms` without reloading.
(function () {
  'use strict';

  var embedded = null;
  try { embedded = JSON.parse(document.getElementById('cxpulse-data').textContent); } catch (e) { embedded = null; }
  var REPORT = !!embedded;

  // Figures in page order. Figures the API does not return are skipped; figures it returns that
  // are not listed here are shown after these with a plain format.
  var FIGURES = [
    { name: 'nps_score', title: 'NPS', fmt: fixed(1) },
    { name: 'csat_ratio', title: 'CSAT', fmt: pct(1) },
    { name: 'ces_average', title: 'Effort (CES)', fmt: fixed(2) },
    { name: 'active_customers', title: 'Active customers', fmt: int },
    { name: 'churn_ratio', title: 'Churn', fmt: pct(2) },
    { name: 'retention_ratio', title: 'Retention', fmt: pct(1) },
    { name: 'revenue', title: 'Revenue', fmt: money },
    { name: 'revenue_per_customer', title: 'Revenue / customer', fmt: money2 },
    { name: 'purchases_per_customer', title: 'Purchases / customer', fmt: fixed(2) },
    { name: 'customer_lifetime_value', title: 'Lifetime value', fmt: money },
    { name: 'lifetime_revenue_average', title: 'Lifetime revenue (avg)', fmt: money2 },
    { name: 'reengagement_lift', title: 'Lift', fmt: points },
  ];
  var BY_NAME = {};
  FIGURES.forEach(function (f) { BY_NAME[f.name] = f; });

  var state = { window: null, filter: '', sort: {}, timer: null, health: null, refresh: 5000, lastOk: null };

  function fixed(d) { return function (v) { return v.toFixed(d); }; }
  function pct(d) { return function (v) { return (v * 100).toFixed(d) + '%'; }; }
  function int(v) { return Math.round(v).toLocaleString('en-US'); }
  function money(v) { return v.toLocaleString('en-US', { maximumFractionDigits: 0 }); }
  function money2(v) { return v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }); }
  function points(v) { return (v >= 0 ? '+' : '') + (v * 100).toFixed(1) + ' pp'; }
  function plain(v) { return Math.abs(v) >= 1000 ? money(v) : (+v.toPrecision(4)).toString(); }
  function figure(name) { return BY_NAME[name] || { name: name, title: name.replace(/_/g, ' '), fmt: plain }; }
  function fmt(name, v) { return v === null || v === undefined ? '–' : figure(name).fmt(v); }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function when(ms) {
    if (ms === null || ms === undefined) return '–';
    var d = new Date(ms);
    return d.toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');
  }
  function span(ms) {
    var a = Math.abs(ms), s = ms < 0 ? '-' : '';
    if (a < 1000) return s + a + ' ms';
    if (a < 120000) return s + (a / 1000).toFixed(a < 10000 ? 1 : 0) + ' s';
    if (a < 7200000) return s + Math.round(a / 60000) + ' min';
    if (a < 172800000) return s + (a / 3600000).toFixed(1) + ' h';
    return s + (a / 86400000).toFixed(1) + ' d';
  }
  function stepLabel(ms) {
    if (ms % 86400000 === 0) return ms === 86400000 ? 'day' : ms / 86400000 + ' days';
    if (ms % 3600000 === 0) return ms === 3600000 ? 'hour' : ms / 3600000 + ' h';
    if (ms % 60000 === 0) return ms === 60000 ? 'minute' : ms / 60000 + ' min';
    if (ms % 1000 === 0) return ms / 1000 + ' s';
    return span(ms);
  }

  // ---------- data ----------
  function get(path) {
    if (REPORT) return Promise.resolve(fromReport(path));
    return fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.detail ? body.detail : 'HTTP ' + r.status);
        return body;
      });
    });
  }
  function fromReport(path) {
    if (path.indexOf('api/v1/health') === 0) return embedded.health;
    if (path.indexOf('api/v1/alerts') === 0) return embedded.alerts;
    var m = /window=([^&]+)/.exec(path);
    var w = m ? decodeURIComponent(m[1]) : embedded.default_window;
    return embedded.overview[w] || embedded.overview[embedded.default_window];
  }

  // ---------- routing ----------
  function route() {
    var h = location.hash.replace(/^#\/?/, '');
    var parts = h.split('?')[0].split('/').map(decodeURIComponent);
    var q = {};
    (h.split('?')[1] || '').split('&').forEach(function (p) {
      if (p) { var kv = p.split('='); q[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1] || ''); }
    });
    if (parts[0] === 'segment' && parts.length >= 3 && !REPORT) return { view: 'segment', dimension: parts[1], segment: parts[2], q: q };
    if (parts[0] === 'alerts') return { view: 'alerts', q: q };
    if (parts[0] === 'health') return { view: 'health', q: q };
    return { view: 'overview', q: q };
  }
  function windowParam(r) { return r.q.window || state.window || ''; }
  function link(view, extra) { return '#/' + view + (extra ? '?' + extra : ''); }

  // ---------- charts ----------
  function sparkline(values, w, h) {
    var pts = [], lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    if (lo === Infinity) return '<svg width="' + w + '" height="' + h + '"></svg>';
    if (hi === lo) { hi += 1; lo -= 1; }
    var n = values.length, d = '', pen = false, last = null;
    values.forEach(function (v, i) {
      if (v === null) { pen = false; return; }
      var x = n === 1 ? w / 2 : (i / (n - 1)) * (w - 2) + 1;
      var y = h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
      d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
      pen = true; last = [x, y];
      pts.push(v);
    });
    return '<svg width="' + w + '" height="' + h + '" aria-hidden="true"><path d="' + d +
      '" fill="none" stroke="var(--spark)" stroke-width="1.3" stroke-linejoin="round"/>' +
      (last ? '<circle cx="' + last[0].toFixed(1) + '" cy="' + last[1].toFixed(1) + '" r="1.8" fill="var(--spark)"/>' : '') + '</svg>';
  }

  // A line chart over the window's buckets, with rule thresholds (dashed) and clear levels (dotted).
  function lineChart(name, values, starts, stepMs, rules, windowValue) {
    var W = 560, H = 190, L = 58, R = 10, T = 10, B = 22;
    var lo = Infinity, hi = -Infinity;
    values.forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
    rules.forEach(function (r) { [r.threshold, r.clear].forEach(function (v) { if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (windowValue !== null) { lo = Math.min(lo, windowValue); hi = Math.max(hi, windowValue); }
    if (lo === Infinity) return '<div class="empty">No data in this window yet.</div>';
    if (hi === lo) { hi += Math.abs(hi) * 0.1 || 1; lo -= Math.abs(lo) * 0.1 || 1; }
    var pad = (hi - lo) * 0.08; hi += pad; lo -= pad;
    var n = values.length;
    function X(i) { return L + (n <= 1 ? (W - L - R) / 2 : (i / (n - 1)) * (W - L - R)); }
    function Y(v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); }
    var s = '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="' + esc(figure(name).title) + ' over time">';
    [lo + pad, (lo + hi) / 2, hi - pad].forEach(function (v) {
      s += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + Y(v).toFixed(1) + '" y2="' + Y(v).toFixed(1) + '" stroke="#eef0f3"/>';
      s += '<text x="' + (L - 6) + '" y="' + (Y(v) + 3).toFixed(1) + '" text-anchor="end">' + esc(fmt(name, v)) + '</text>';
    });
    var ticks = Math.min(4, n);
    for (var t = 0; t < ticks; t++) {
      var i = Math.round(t * (n - 1) / Math.max(1, ticks - 1));
      var d = new Date(starts[i]);
      var label = stepMs >= 86400000 ? d.toISOString().slice(5, 10) : d.toISOString().slice(5, 16).replace('T', ' ');
      var anchor = ticks > 1 && t === ticks - 1 ? 'end' : (ticks > 1 && t === 0 ? 'start' : 'middle');
      s += '<text x="' + X(i).toFixed(1) + '" y="' + (H - 6) + '" text-anchor="' + anchor + '">' + label + '</text>';
    }
    rules.forEach(function (r) {
      if (r.threshold === null) return;
      var y = Y(r.threshold).toFixed(1), c = r.state === 'firing' ? 'var(--bad)' : '#d98080';
      s += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '" stroke="' + c + '" stroke-dasharray="5 4" stroke-width="1.4"/>';
      s += '<text x="' + (W - R - 2) + '" y="' + (Y(r.threshold) - 4).toFixed(1) + '" text-anchor="end" style="fill:' + c + '">' +
        esc(r.rule + ' ' + (r.direction === 'above' ? '>' : '<') + ' ' + fmt(name, r.threshold) + ' (' + r.window + ')') + '</text>';
      if (r.clear !== null && r.clear !== r.threshold) {
        var yc = Y(r.clear).toFixed(1);
        s += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + yc + '" y2="' + yc + '" stroke="#9aa3af" stroke-dasharray="2 3"/>';
      }
    });
    if (windowValue !== null) {
      var yw = Y(windowValue).toFixed(1);
      s += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + yw + '" y2="' + yw + '" stroke="#2f6fd6" stroke-opacity=".35" stroke-width="1"/>';
    }
    var d2 = '', pen = false;
    values.forEach(function (v, i) {
      if (v === null) { pen = false; return; }
      d2 += (pen ? 'L' : 'M') + X(i).toFixed(1) + ' ' + Y(v).toFixed(1); pen = true;
    });
    s += '<path d="' + d2 + '" fill="none" stroke="#2f6fd6" stroke-width="2" stroke-linejoin="round"/>';
    values.forEach(function (v, i) {
      if (v === null) return;
      s += '<circle cx="' + X(i).toFixed(1) + '" cy="' + Y(v).toFixed(1) + '" r="2.2" fill="#2f6fd6"><title>' +
        esc(when(starts[i]) + ' (' + stepLabel(stepMs) + '): ' + fmt(name, v)) + '</title></circle>';
    });
    return s + '</svg>';
  }

  function bars(series, keys, colours) {
    var W = 620, H = 200, L = 36, R = 8, T = 10, B = 22, n = series.length;
    var hi = 1;
    series.forEach(function (p) { keys.forEach(function (k) { hi = Math.max(hi, p[k]); }); });
    var slot = (W - L - R) / Math.max(1, n), bw = Math.max(1, (slot - 2) / keys.length);
    var s = '<svg viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="transitions over time">';
    [0, hi / 2, hi].forEach(function (v) {
      var y = T + (1 - v / hi) * (H - T - B);
      s += '<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y.toFixed(1) + '" y2="' + y.toFixed(1) + '" stroke="#eef0f3"/>';
      s += '<text x="' + (L - 5) + '" y="' + (y + 3).toFixed(1) + '" text-anchor="end">' + int(v) + '</text>';
    });
    series.forEach(function (p, i) {
      keys.forEach(function (k, j) {
        var h = (p[k] / hi) * (H - T - B);
        if (h <= 0) return;
        s += '<rect x="' + (L + i * slot + 1 + j * bw).toFixed(1) + '" y="' + (H - B - h).toFixed(1) + '" width="' + bw.toFixed(1) +
          '" height="' + h.toFixed(1) + '" fill="' + colours[j] + '"><title>' + esc(p.start.slice(0, 16).replace('T', ' ') + ' ' + k + ': ' + p[k]) + '</title></rect>';
      });
    });
    var step = Math.max(1, Math.ceil(n / 6));
    for (var i = 0; i < n; i += step) {
      s += '<text x="' + (L + i * slot + slot / 2).toFixed(1) + '" y="' + (H - 6) + '" text-anchor="middle">' + series[i].start.slice(5, 10) + '</text>';
    }
    return s + '</svg>';
  }

  // ---------- views ----------
  function windowTabs(doc, view, extra) {
    return '<div class="seg" role="tablist">' + doc.windows.map(function (w) {
      var q = 'window=' + encodeURIComponent(w.name) + (extra ? '&' + extra : '');
      return '<a href="' + link(view, q) + '" class="' + (w.name === doc.window ? 'on' : '') + '" data-window="' + esc(w.name) + '">' + esc(w.name) + '</a>';
    }).join('') + '</div>';
  }

  function ruleClass(fig, win) {
    if (!fig || !fig.rules) return '';
    var here = fig.rules.filter(function (r) { return r.window === win; });
    if (here.some(function (r) { return r.state === 'firing'; })) return 'firing';
    if (here.some(function (r) { return r.state === 'ok'; })) return 'ok';
    return '';
  }

  function statesBar(c) {
    var total = c.active + c.inactive + c.churned || 1;
    return '<span class="states" title="' + esc('active ' + c.active + ', inactive ' + c.inactive + ', churned ' + c.churned) + '">' +
      ['active', 'inactive', 'churned'].map(function (k) {
        return '<span class="s-' + k + '" style="width:' + (100 * c[k] / total).toFixed(1) + '%"></span>';
      }).join('') + '</span>' + int(c.active + c.inactive + c.churned);
  }

  function shownFigures(doc) {
    var names = FIGURES.map(function (f) { return f.name; }).filter(function (n) { return doc.metrics.indexOf(n) >= 0; });
    doc.metrics.forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
    return names;
  }

  function overview(doc) {
    state.window = doc.window;
    var names = shownFigures(doc);
    var html = '<div class="bar"><h1 style="margin:0 12px 0 0">Segments</h1>' + windowTabs(doc, '') +
      '<input class="filter" id="filter" placeholder="Filter segments" value="' + esc(state.filter) + '">' +
      '<div class="legend"><span><i style="background:var(--bad-bg);border:1px solid var(--bad)"></i>rule firing</span>' +
      '<span><i style="background:#fff;border-left:3px solid #b9e2c7"></i>rule ok</span>' +
      '<span><i class="s-active"></i>active <i class="s-inactive"></i>inactive <i class="s-churned"></i>churned</span>' +
      '<span>sparklines: one point per ' + esc(stepLabel(doc.axis.step_ms)) + '</span>' +
      '<span>at ' + esc(doc.at ? when(doc.at_ms) : 'no events yet') + '</span></div></div>';
    if (!doc.dimensions.length) return html + '<div class="card empty">No segments yet: figures appear with the first events.</div>';
    doc.dimensions.forEach(function (dim) {
      var rows = dim.segments.filter(function (s) { return !state.filter || s.segment.toLowerCase().indexOf(state.filter.toLowerCase()) >= 0; });
      if (!rows.length) return;
      var sort = state.sort[dim.name];
      if (sort) {
        rows = rows.slice().sort(function (a, b) {
          var va = sort.key === 'segment' ? a.segment : (a.figures[sort.key] ? a.figures[sort.key].value : -Infinity);
          var vb = sort.key === 'segment' ? b.segment : (b.figures[sort.key] ? b.figures[sort.key].value : -Infinity);
          return (va < vb ? -1 : va > vb ? 1 : 0) * sort.dir;
        });
      }
      html += '<h2>' + esc(dim.name) + '</h2><div class="tablewrap"><table class="grid" data-dimension="' + esc(dim.name) + '"><thead><tr>' +
        '<th data-sort="segment">Segment</th><th>Customers</th>' +
        names.map(function (n) { return '<th class="num" data-sort="' + esc(n) + '">' + esc(figure(n).title) + '</th>'; }).join('') +
        '<th>Firing</th></tr></thead><tbody>';
      rows.forEach(function (s) {
        var href = '#/segment/' + encodeURIComponent(dim.name) + '/' + encodeURIComponent(s.segment) + '?window=' + encodeURIComponent(doc.window);
        html += '<tr data-dimension="' + esc(dim.name) + '" data-segment="' + esc(s.segment) + '"><td class="name">' +
          (REPORT ? esc(s.segment) : '<a href="' + href + '">' + esc(s.segment) + '</a>') + '</td><td>' + statesBar(s.customers) + '</td>';
        names.forEach(function (n) {
          var f = s.figures[n];
          if (!f) { html += '<td class="fig nodata" data-metric="' + esc(n) + '"><span class="val">–</span>' + sparkline([], 64, 20) + '</td>'; return; }
          var other = (f.rules || []).filter(function (r) { return r.window !== doc.window && r.state === 'firing'; });
          var title = figure(n).title + ': ' + fmt(n, f.value) + ' (' + f.samples + ' samples, ' + doc.window + ')' +
            (f.rules || []).map(function (r) { return '\n' + r.rule + ' (' + r.window + '): ' + r.state.replace('_', ' '); }).join('');
          html += '<td class="fig ' + ruleClass(f, doc.window) + '" data-metric="' + esc(n) + '" data-value="' + f.value + '" title="' + esc(title) + '">' +
            '<span class="val">' + esc(fmt(n, f.value)) + '</span>' +
            (other.length ? '<span class="other" title="firing on ' + esc(other.map(function (r) { return r.window; }).join(', ')) + '">' + esc(other[0].window) + '!</span>' : '') +
            sparkline(f.spark || [], 64, 20) + '</td>';
        });
        html += '<td><span class="chips">' + s.firing.map(function (r) { return '<span class="chip" data-rule="' + esc(r) + '">' + esc(r) + '</span>'; }).join('') + '</span></td></tr>';
      });
      html += '</tbody></table></div>';
    });
    return html;
  }

  function segmentView(doc) {
    state.window = doc.window;
    var extra = '';
    var main = FIGURES.map(function (f) { return f.name; });
    var byKey = {};
    doc.figures.forEach(function (f) { byKey[f.metric + (f.label ? ':' + f.label : '')] = f; });
    var rulesByName = {};
    doc.rules.forEach(function (r) { rulesByName[r.name] = r; });
    function card(f, small) {
      var key = f.metric + (f.label ? ':' + f.label : '');
      var title = f.label ? figure(f.metric).title + ' · ' + f.label : figure(f.metric).title;
      var rules = (f.rules || []).map(function (r) {
        var def = rulesByName[r.rule] || {};
        return { rule: r.rule, window: r.window, state: r.state, threshold: def.threshold, clear: def.clear, direction: def.direction };
      });
      var firing = rules.some(function (r) { return r.state === 'firing'; });
      var chips = rules.map(function (r) {
        return '<span class="chip ' + (r.state === 'firing' ? '' : 'resolved') + '">' + esc(r.rule + ' · ' + r.state.replace('_', ' ')) + '</span>';
      }).join(' ');
      return '<div class="card chart ' + (firing ? 'firing' : '') + '" data-figure="' + esc(key) + '"><h3><span>' + esc(title) + '</span><span class="chips">' + chips + '</span></h3>' +
        '<div class="big" data-value="' + (f.value === null ? '' : f.value) + '">' + esc(fmt(f.metric, f.value)) + '</div>' +
        '<div class="sub">' + esc(doc.window + ' window, ' + (f.samples === null ? 'no samples' : f.samples + ' samples') + '; one point per ' + stepLabel(doc.axis.step_ms)) + '</div>' +
        (f.series ? lineChart(f.metric, f.series, doc.axis.starts, doc.axis.step_ms, small ? [] : rules, f.value) : '<div class="empty">No per-bucket series for this figure.</div>') + '</div>';
    }
    var c = doc.customers;
    var html = '<div class="bar"><a href="#/?window=' + encodeURIComponent(doc.window) + '">← all segments</a></div>' +
      '<div class="bar"><h1 style="margin:0 12px 0 0">' + esc(doc.dimension) + ' / ' + esc(doc.segment) + '</h1>' +
      windowTabs(doc, 'segment/' + encodeURIComponent(doc.dimension) + '/' + encodeURIComponent(doc.segment), extra) +
      '<span class="muted">at ' + esc(doc.at ? when(doc.at_ms) : 'no events yet') + '</span></div>' +
      '<div class="tiles">' + ['active', 'inactive', 'churned'].map(function (k) {
        return '<div class="card tile"><div class="k"><i class="states s-' + k + '" style="width:10px;height:10px;border-radius:2px"></i> ' + k + ' customers</div><div class="v">' + int(c[k]) + '</div></div>';
      }).join('') + '</div><div class="charts">';
    var shown = {};
    main.forEach(function (n) {
      var f = byKey[n];
      if (f && (f.value !== null || (f.series && f.series.some(function (v) { return v !== null; })))) { html += card(f, false); shown[n] = true; }
    });
    html += '</div><h2>More figures</h2><div class="charts small">';
    doc.figures.forEach(function (f) {
      var key = f.metric + (f.label ? ':' + f.label : '');
      if (shown[key] || f.value === null) return;
      html += card(f, true);
    });
    return html + '</div>';
  }

  function alertsView(doc) {
    var keys = ['inactive', 'churned', 'reactivated', 'messages'];
    var colours = ['#e8b44f', '#c95b5b', '#4fb37a', '#4f9be8'];
    var html = '<h1>Alerts</h1><div class="two"><div class="card chart"><h3><span>Customer transitions and messages per ' +
      esc(doc.counts ? stepLabel(doc.counts.bucket_ms) : 'span') + ' (stream time)</span></h3>';
    if (doc.counts) {
      html += '<div class="legend" style="margin:6px 0">' + keys.map(function (k, i) {
        return '<span><i style="background:' + colours[i] + '"></i>' + k + ' <b data-total="' + k + '">' + int(doc.counts.totals[k]) + '</b></span>';
      }).join('') + '<span>totals since start</span></div>' + bars(doc.counts.series, keys, colours);
    } else {
      html += '<div class="empty">No counts.</div>';
    }
    html += '</div><div><div class="card tablewrap"><table class="grid" id="segment-alerts"><thead><tr><th>At (stream time)</th><th>State</th><th>Rule</th><th>Segment</th><th class="num">Value</th><th class="num">Threshold</th></tr></thead><tbody>';
    if (!doc.recent.length) html += '<tr><td colspan="6" class="empty">No segment threshold alerts yet.</td></tr>';
    doc.recent.forEach(function (a) {
      var seg = REPORT ? esc(a.dimension + ' / ' + a.segment) :
        '<a href="#/segment/' + encodeURIComponent(a.dimension) + '/' + encodeURIComponent(a.segment) + '?window=' + encodeURIComponent(a.window) + '">' + esc(a.dimension + ' / ' + a.segment) + '</a>';
      html += '<tr data-state="' + esc(a.state) + '"><td>' + esc(a.at.replace('T', ' ').replace('Z', ' UTC')) + '</td><td><span class="chip ' + (a.state === 'firing' ? '' : 'resolved') + '">' + esc(a.state) +
        '</span></td><td>' + esc(a.rule) + ' <span class="muted">' + esc(a.metric + ', ' + a.window) + '</span></td><td>' + seg + '</td><td class="num" style="text-align:right">' +
        esc(fmt(a.metric, a.value)) + '</td><td style="text-align:right">' + esc(fmt(a.metric, a.threshold)) + '</td></tr>';
    });
    html += '</tbody></table></div><p class="muted">The newest ' + int(doc.capacity || 0) + ' segment alerts are kept. Customer transitions are counted, not listed' +
      (doc.customer_rows ? ' (customer rows are on: see below).' : ' (status.customer_rows is off).') + '</p></div></div>';
    if (doc.customer_rows && doc.customers) {
      html += '<h2>Customer rows</h2><div class="card"><table class="grid"><thead><tr><th>At</th><th>Kind</th><th>Customer</th><th>Segments</th></tr></thead><tbody>' +
        doc.customers.map(function (c) {
          return '<tr><td>' + esc(c.at) + '</td><td>' + esc(c.kind) + '</td><td>' + esc(c.customer_id) + '</td><td>' + esc(JSON.stringify(c.segments || {})) + '</td></tr>';
        }).join('') + '</tbody></table></div>';
    }
    return html;
  }

  function tile(k, v, d, attr) {
    return '<div class="card tile"' + (attr || '') + '><div class="k">' + esc(k) + '</div><div class="v">' + v + '</div><div class="d">' + (d || '') + '</div></div>';
  }

  function healthView(h) {
    var ready = REPORT ? '<span class="pill neutral">report</span>' :
      (h.ready ? '<span class="pill ok">ready</span>' : '<span class="pill bad">not ready</span>');
    var ev = h.events || {};
    var html = '<h1>Health</h1><div class="tiles">' +
      tile('Readiness', ready, esc(h.ready ? 'all checks pass' : (h.reason || '')), ' id="readiness"') +
      tile('Events per second', h.events_per_second === null ? '–' : int(h.events_per_second), 'all outcomes, last probe interval') +
      tile('Stream time', esc(when(h.stream_time_ms)), REPORT ? 'final clock of the replay' : esc('wall ' + when(h.wall_time_ms) + (h.stream_behind_ms === null ? '' : ', behind by ' + span(h.stream_behind_ms)))) +
      tile('Consumer lag', int(h.consumer_lag_total || 0), 'messages, all assigned partitions') +
      tile('Tracked customers', int(h.tracked_customers), '') +
      tile('Events', int(ev.accepted || 0), esc('accepted; ' + int(ev.invalid || 0) + ' invalid, ' + int(ev.duplicate || 0) + ' duplicate, ' + int(ev.late || 0) + ' late')) +
      tile('Version', esc(h.version), 'cxpulse build') + '</div><div class="two"><div class="card"><table class="grid"><thead><tr><th>Topic</th><th>Partition</th><th class="num">Lag</th><th></th></tr></thead><tbody>';
    var maxLag = 1;
    h.consumer_lag.forEach(function (l) { maxLag = Math.max(maxLag, l.lag); });
    if (!h.consumer_lag.length) html += '<tr><td colspan="4" class="empty">No partitions assigned (or not measured yet).</td></tr>';
    h.consumer_lag.slice().sort(function (a, b) { return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition; }).forEach(function (l) {
      html += '<tr><td>' + esc(l.topic) + '</td><td>' + l.partition + '</td><td style="text-align:right">' + int(l.lag) + '</td><td><div class="meter"><span style="width:' + (100 * l.lag / maxLag).toFixed(1) + '%"></span></div></td></tr>';
    });
    html += '</tbody></table></div><div class="card"><table class="grid"><thead><tr><th>Partition</th><th>Stream clock</th><th class="num">Behind the newest</th></tr></thead><tbody>';
    if (!h.partitions.length) html += '<tr><td colspan="3" class="empty">No partitions.</td></tr>';
    h.partitions.forEach(function (p) {
      html += '<tr><td>' + p.partition + '</td><td>' + esc(when(p.stream_time_ms)) + '</td><td style="text-align:right">' +
        (p.stream_time_ms === null || h.stream_time_ms === null ? '–' : span(h.stream_time_ms - p.stream_time_ms)) + '</td></tr>';
    });
    html += '</tbody></table></div></div>';
    if (h.restore && h.restore.length) {
      html += '<h2>Restore progress</h2><div class="card"><table class="grid"><thead><tr><th>Metric</th><th>Labels</th><th class="num">Value</th></tr></thead><tbody>' +
        h.restore.map(function (r) {
          return '<tr><td>' + esc(r.name) + '</td><td>' + esc(Object.keys(r.labels).map(function (k) { return k + '=' + r.labels[k]; }).join(', ')) + '</td><td style="text-align:right">' + esc(plain(r.value)) + '</td></tr>';
        }).join('') + '</tbody></table></div>';
    }
    return html;
  }

  // ---------- shell ----------
  function strip(h) {
    var el = document.getElementById('strip');
    if (!h) { el.innerHTML = ''; return; }
    document.getElementById('version').textContent = 'v' + h.version;
    var pill = REPORT ? '<span class="pill neutral">static report</span>' :
      (h.ready ? '<span class="pill ok" id="ready-pill">ready</span>' : '<span class="pill bad" id="ready-pill" title="' + esc(h.reason || '') + '">not ready</span>');
    el.innerHTML = pill +
      '<span>stream <b>' + esc(when(h.stream_time_ms)) + '</b></span>' +
      (REPORT ? '' : '<span>behind wall <b>' + (h.stream_behind_ms === null ? '–' : esc(span(h.stream_behind_ms))) + '</b></span>' +
        '<span><b>' + (h.events_per_second === null ? '–' : int(h.events_per_second)) + '</b> events/s</span>' +
        '<span>lag <b>' + int(h.consumer_lag_total || 0) + '</b></span>');
  }

  function tabs(view) {
    Array.prototype.forEach.call(document.querySelectorAll('#tabs a'), function (a) {
      a.classList.toggle('on', a.getAttribute('data-view') === (view === 'segment' ? 'overview' : view));
    });
  }

  function render(r, doc) {
    var main = document.getElementById('main');
    var focused = document.activeElement && document.activeElement.id === 'filter';
    var caret = focused ? document.activeElement.selectionStart : 0;
    if (r.view === 'overview') main.innerHTML = overview(doc);
    else if (r.view === 'segment') main.innerHTML = segmentView(doc);
    else if (r.view === 'alerts') main.innerHTML = alertsView(doc);
    else main.innerHTML = healthView(doc);
    main.setAttribute('data-view', r.view);
    if (focused) { var f = document.getElementById('filter'); if (f) { f.focus(); f.setSelectionRange(caret, caret); } }
  }

  function docPath(r) {
    var w = windowParam(r);
    var q = w ? 'window=' + encodeURIComponent(w) : '';
    if (r.view === 'segment') return 'api/v1/segments/' + encodeURIComponent(r.dimension) + '/' + encodeURIComponent(r.segment) + (q ? '?' + q : '');
    if (r.view === 'alerts') return 'api/v1/alerts';
    if (r.view === 'health') return 'api/v1/health';
    return 'api/v1/segments' + (q ? '?' + q : '');
  }

  var seq = 0;
  function refresh() {
    clearTimeout(state.timer);
    var r = route(), mine = ++seq;
    tabs(r.view);
    Promise.all([get('api/v1/health'), r.view === 'health' ? null : get(docPath(r))]).then(function (res) {
      if (mine !== seq) return;
      var h = res[0];
      state.health = h;
      state.refresh = h.refresh_ms || 5000;
      strip(h);
      render(r, r.view === 'health' ? h : res[1]);
      var banner = document.getElementById('banner');
      banner.hidden = true;
      state.lastOk = Date.now();
      document.getElementById('foot').textContent = REPORT ? 'Static report written by cxpulse replay at the final clock.' :
        'Updated ' + new Date().toLocaleTimeString() + '; refreshes every ' + stepLabel(state.refresh) + '.';
    }).catch(function (e) {
      if (mine !== seq) return;
      var banner = document.getElementById('banner');
      banner.hidden = false;
      banner.textContent = 'Cannot read cxpulse: ' + e.message + (state.lastOk ? ' (showing figures from ' + new Date(state.lastOk).toLocaleTimeString() + '); retrying' : '; retrying');
    }).then(function () {
      if (!REPORT && mine === seq) state.timer = setTimeout(refresh, state.refresh);
    });
  }

  document.addEventListener('input', function (e) {
    if (e.target && e.target.id === 'filter') {
      state.filter = e.target.value;
      var r = route();
      if (r.view === 'overview') get(docPath(r)).then(function (doc) { render(r, doc); });
    }
  });
  document.addEventListener('click', function (e) {
    var th = e.target.closest && e.target.closest('th[data-sort]');
    if (!th) return;
    var dim = th.closest('table').getAttribute('data-dimension'), key = th.getAttribute('data-sort');
    var cur = state.sort[dim];
    state.sort[dim] = { key: key, dir: cur && cur.key === key ? -cur.dir : (key === 'segment' ? 1 : -1) };
    refresh();
  });
  window.addEventListener('hashchange', refresh);
  if (REPORT) document.title = 'cxpulse report';
  refresh();
})();
