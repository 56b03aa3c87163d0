'use strict';
// The dashboard reads the control plane's JSON API on its own origin and nothing else. Every value
// from the API goes into the page as text (textContent, text nodes, SVG text): never as HTML.

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const REFRESH_MS = 5000;

// el builds an element: attrs are set as attributes (class via "class"), children are nodes or
// text (null and undefined skipped).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = String(text);
  return e;
}

const dash = (v) => (v === undefined || v === null || v === '' ? '—' : v);
const cell = (v, cls) => el('td', cls ? { class: cls } : null, String(dash(v)));
const num = (v, digits) => (v === undefined || v === null ? '—' : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 1 : digits }));
const pct = (v) => (v === undefined || v === null ? '—' : (Number(v) * 100).toFixed(1) + ' %');
const pill = (text, cls) => { const td = el('td'); td.append(el('span', { class: 'pill ' + (cls || '') }, text)); return td; };

function bytes(n) {
  n = Number(n || 0);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];
}

function duration(s) {
  s = Math.max(0, Math.round(Number(s || 0)));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
}

function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

function ago(ts) {
  if (!ts) return '—';
  return duration((Date.now() - Date.parse(ts)) / 1000) + ' ago';
}

// fill replaces a table body's rows; an empty list shows one row saying so.
function fill(tbody, rows, empty) {
  const n = tbody.closest('table').querySelectorAll('thead th').length;
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', null, el('td', { colspan: n, class: 'muted' }, empty || 'nothing yet'))]));
}

function tile(label, value, cls) {
  return el('div', { class: 'tile' + (cls ? ' ' + cls : '') }, el('b', null, String(value)), el('span', null, label));
}

// ---- API ----

class HTTPError extends Error {
  constructor(path, status, message) { super(path + ': ' + (message || 'HTTP ' + status)); this.status = status; }
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!r.ok) throw new HTTPError(path, r.status, await errorText(r));
  return r.json();
}

async function errorText(r) {
  try { const j = await r.json(); return j.error || 'HTTP ' + r.status; } catch (_) { return 'HTTP ' + r.status; }
}

// The CSRF token the admin server wants on every mutating request a browser sends (guard.go).
let csrf = '';
async function csrfToken(fresh) {
  if (!csrf || fresh) csrf = (await getJSON('/api/csrf')).token;
  return csrf;
}

// send makes a mutating request with the token and a JSON body (or none); a stale token (the
// control plane restarted) is fetched again once.
async function send(method, path, body) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = { Accept: 'application/json', 'X-CSRF-Token': await csrfToken(attempt > 0) };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) { headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const r = await fetch(path, init);
    let j = null;
    try { j = await r.json(); } catch (_) { /* an empty or non-JSON answer */ }
    if (r.status === 403 && attempt === 0 && j && /CSRF/.test(j.error || '')) continue;
    if (!r.ok) throw new HTTPError(path, r.status, j && j.error);
    return j;
  }
}

function notice(text, bad) {
  const n = $('notice');
  n.textContent = text;
  n.className = 'notice' + (bad ? ' bad' : ' ok');
  n.hidden = false;
}

// ---- charts (inline SVG) ----

const W = 600, H = 170, PAD = { l: 46, r: 8, t: 10, b: 22 };

function figure(id, caption, body, legend) {
  const f = $(id);
  const parts = [el('figcaption', null, caption), body];
  if (legend) parts.push(el('div', { class: 'legend' }, ...legend.map(([cls, name]) => el('span', null, el('i', { class: cls }), name))));
  f.replaceChildren(...parts);
}

function frame(label) {
  const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  s.append(svg('title', null, label));
  return s;
}

function axes(s, times, max, fmt) {
  const x0 = PAD.l, x1 = W - PAD.r, y0 = H - PAD.b, y1 = PAD.t;
  for (const f of [0, 0.5, 1]) {
    const y = y0 - (y0 - y1) * f;
    s.append(svg('line', { class: 'grid', x1: x0, x2: x1, y1: y, y2: y }));
    s.append(svg('text', { x: x0 - 4, y: y + 4, 'text-anchor': 'end' }, fmt(max * f)));
  }
  if (times.length) {
    const label = (t) => { const d = new Date(t); return times.length > 48 ? d.toLocaleDateString() : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };
    s.append(svg('text', { x: x0, y: H - 6 }, label(times[0])));
    s.append(svg('text', { x: x1, y: H - 6, 'text-anchor': 'end' }, label(times[times.length - 1])));
  }
}

function lineChart(id, caption, times, lines, fmt) {
  const max = Math.max(1e-9, ...lines.flatMap((l) => l.values.map(Number)));
  const s = frame(caption);
  axes(s, times, max, fmt);
  const n = Math.max(1, times.length - 1), iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
  lines.forEach((l) => {
    const d = l.values.map((v, i) => (i ? 'L' : 'M') + (PAD.l + (iw * i) / n).toFixed(1) + ' ' + (PAD.t + ih - (ih * Number(v || 0)) / max).toFixed(1)).join(' ');
    if (d) s.append(svg('path', { class: 'line ' + l.cls, d }));
  });
  figure(id, caption, s, lines.map((l) => [l.cls, l.name]));
}

function stackedBars(id, caption, times, stacks, fmt) {
  const totals = times.map((_, i) => stacks.reduce((a, st) => a + Number(st.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const s = frame(caption);
  axes(s, times, max, fmt);
  const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b, bw = iw / Math.max(1, times.length);
  times.forEach((t, i) => {
    let y = PAD.t + ih;
    stacks.forEach((st) => {
      const h = (ih * Number(st.values[i] || 0)) / max;
      if (h <= 0) return;
      y -= h;
      const r = svg('rect', { class: st.cls, x: (PAD.l + i * bw + bw * 0.1).toFixed(1), y: y.toFixed(1), width: Math.max(1, bw * 0.8).toFixed(1), height: h.toFixed(1) });
      r.append(svg('title', null, new Date(t).toLocaleString() + ' · ' + st.name + ': ' + st.values[i]));
      s.append(r);
    });
  });
  figure(id, caption, s, stacks.map((st) => [st.cls, st.name]));
}

function heatmap(id, caption, h) {
  const rows = h.requests || [], max = Math.max(1, Number(h.max || 0));
  const cw = 22, ch = 18, left = 40, top = 4;
  const s = svg('svg', { viewBox: `0 0 ${left + 24 * cw + 4} ${top + 7 * ch + 18}`, role: 'img', 'aria-label': caption });
  s.append(svg('title', null, caption));
  rows.forEach((row, d) => {
    s.append(svg('text', { x: left - 4, y: top + d * ch + 13, 'text-anchor': 'end' }, (h.weekdays && h.weekdays[d] || String(d)).slice(0, 3)));
    row.forEach((v, hour) => {
      const r = svg('rect', { class: 'heat', x: left + hour * cw, y: top + d * ch, width: cw - 2, height: ch - 2, rx: 2, 'fill-opacity': (0.06 + 0.94 * Number(v) / max).toFixed(3) });
      r.append(svg('title', null, (h.weekdays ? h.weekdays[d] : d) + ' ' + hour + ':00 UTC: ' + v + ' requests'));
      s.append(r);
    });
  });
  for (let hour = 0; hour < 24; hour += 3) s.append(svg('text', { x: left + hour * cw, y: top + 7 * ch + 13 }, hour + 'h'));
  figure(id, caption, s);
}

function shareBars(id, caption, items) {
  const max = Math.max(1e-9, ...items.map((i) => Number(i.count)));
  const rows = items.map((i) => {
    const bar = el('div', { class: 'bar' });
    bar.style.width = ((100 * Number(i.count)) / max).toFixed(1) + '%';
    return el('tr', null, el('td', null, i.name), el('td', { class: 'num' }, num(i.count, 0)), el('td', { class: 'num' }, pct(i.share)), el('td', { class: 'barcell' }, bar));
  });
  const t = el('table', { class: 'bars' }, el('tbody'));
  fill(t.tBodies[0], rows, 'no requests in this period');
  figure(id, caption, t);
}

// ---- views ----

async function loadStatus() {
  const st = await getJSON('/api/status');
  const s = $('status');
  s.textContent = st.ready ? 'ready · configuration version ' + st.version : 'not ready: ' + st.reason;
  s.className = 'pill ' + (st.ready ? 'ok' : 'bad');
  const errs = st.config_errors || [];
  $('config-errors').hidden = !errs.length;
  $('config-error-list').replaceChildren(...errs.map((e) => el('li', null, e)));
}

async function loadStats() {
  const s = await getJSON('/api/stats');
  $('stats').replaceChildren(
    tile('uptime', duration(s.uptime_seconds)),
    tile('active connections', s.active_connections === null ? '—' : num(s.active_connections, 0)),
    tile('requests / s', num(s.requests_per_second, 2)),
    tile('error rate 24 h', pct(s.error_rate_24h), s.error_rate_24h > 0.05 ? 'bad' : ''),
    tile('requests 24 h', num(s.requests_24h, 0)),
    tile('errors 24 h', num(s.errors_24h, 0)),
    tile('WebSockets open', num(s.websockets_active, 0)),
    tile('data planes connected', num(s.dataplanes_connected, 0), s.dataplanes_connected ? '' : 'bad'),
    tile('events dropped 24 h', num(s.events_dropped_24h, 0), s.events_dropped_24h ? 'warn' : ''));
}

const healthCls = { healthy: 'ok', degraded: 'warn', down: 'bad' };
const circuitCls = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
let routeIds = [];

async function loadRoutes() {
  const r = await getJSON('/api/routes');
  $('routes-version').textContent = r.version ? '(snapshot version ' + r.version + ')' : '';
  const routes = r.routes || [];
  fill($('routes-body'), routes.map((x) => el('tr', null,
    cell(x.id, 'mono'), cell((x.hosts || []).join(', ')), cell(x.backend, 'mono'),
    pill((x.health && x.health.state) || 'unknown', healthCls[x.health && x.health.state]),
    pill((x.circuit && x.circuit.state) || 'unknown', circuitCls[x.circuit && x.circuit.state]),
    cell(num(x.requests_24h, 0), 'num'), cell(num(x.avg_ms_24h), 'num'), cell(num(x.p95_ms_24h), 'num'),
    cell(pct(x.error_rate_24h), 'num'))), 'no routes configured');
  const ids = routes.map((x) => x.id);
  if (ids.join('\n') !== routeIds.join('\n')) {
    routeIds = ids;
    const sel = $('mnt-route'), keep = sel.value;
    sel.replaceChildren(...ids.map((id) => el('option', { value: id }, id)));
    if (ids.includes(keep)) sel.value = keep;
  }
}

async function loadTraffic() {
  const p = encodeURIComponent($('period').value);
  const [rt, sc, bw, hm, ua, geo] = await Promise.all(['response-times', 'status-codes', 'bandwidth', 'heatmap', 'user-agents', 'geoip']
    .map((n) => getJSON('/api/analytics/' + n + '?period=' + p)));
  const times = (rt.series || []).map((x) => x.time);
  $('traffic-summary').textContent = num(rt.requests, 0) + ' requests · avg ' + num(rt.avg_ms) + ' ms · p95 ' + num(rt.p95_ms) + ' ms · ' +
    pct(sc.error_rate) + ' errors · ' + num(sc.blocked, 0) + ' blocked · ' + bytes(bw.bytes_sent) + ' sent';
  lineChart('chart-requests', 'Requests', times, [{ name: 'requests per step', cls: 's1', values: (rt.series || []).map((x) => x.requests) }], (v) => num(v, 0));
  lineChart('chart-latency', 'Latency (ms)', times, [
    { name: 'average', cls: 's1', values: (rt.series || []).map((x) => x.avg_ms) },
    { name: 'p95', cls: 's2', values: (rt.series || []).map((x) => x.p95_ms) }], (v) => num(v, 0));
  const classes = [['2xx', 's3'], ['3xx', 's1'], ['4xx', 's2'], ['5xx', 's4'], ['1xx', 's5']];
  stackedBars('chart-status', 'Status codes', (sc.series || []).map((x) => x.time),
    classes.map(([c, cls]) => ({ name: c + ' (' + num(sc.classes && sc.classes[c], 0) + ')', cls, values: (sc.series || []).map((x) => x.classes[c]) })), (v) => num(v, 0));
  lineChart('chart-bandwidth', 'Bandwidth', (bw.series || []).map((x) => x.time), [
    { name: 'sent ' + bytes(bw.bytes_sent), cls: 's1', values: (bw.series || []).map((x) => x.bytes_sent) },
    { name: 'received ' + bytes(bw.bytes_received), cls: 's2', values: (bw.series || []).map((x) => x.bytes_received) }], bytes);
  heatmap('chart-heatmap', 'Peak hours (requests per weekday and hour, UTC)', hm);
  shareBars('chart-agents', 'User agents', (ua.classes || []).filter((c) => c.count > 0));
  shareBars('chart-countries', 'Countries', geo.countries || []);
}

async function loadErrors() {
  const e = await getJSON('/api/errors?limit=20');
  $('errors-total').textContent = '(' + num(e.total, 0) + ' in 24 h)';
  $('errors-by').textContent = (e.by_status || []).map((b) => b.key + ': ' + b.count).join(' · ');
  fill($('errors-body'), (e.recent || []).map((x) => el('tr', null,
    cell(when(x.time)), cell(x.route, 'mono'), cell(x.method + ' ' + x.host + x.path, 'mono'), cell(x.status, 'num'), cell(x.error), cell(x.request_id, 'mono'))),
  'no errors in 24 h');
}

const keyList = (id, items) => $(id).replaceChildren(...(items && items.length ? items.map((i) => el('li', null, i.key + ': ' + i.count)) : [el('li', { class: 'muted' }, 'none')]));

async function loadSecurity() {
  const [s, b] = await Promise.all([getJSON('/api/security'), getJSON('/api/bans')]);
  const waf = (s.waf_blocks || []).reduce((a, x) => a + x.count, 0);
  $('security-tiles').replaceChildren(tile('bans in force', num(s.bans_active, 0), s.bans_active ? 'warn' : ''),
    tile('rate-limit violations', num(s.violations, 0)), tile('WAF matches', num(waf, 0)));
  keyList('security-waf', [...(s.waf_blocks || []), ...(s.waf_rules || []).map((r) => ({ key: 'rule ' + r.key, count: r.count }))]);
  keyList('security-events', s.events);
  keyList('security-attackers', (s.top_attackers || []).map((a) => ({ key: a.client_ip, count: a.events })));
  fill($('bans-body'), (b.bans || []).map((ban) => {
    const btn = el('button', { type: 'button', 'aria-label': 'Lift the ban on ' + ban.clientIp + (ban.routeId ? ' for ' + ban.routeId : '') }, 'Lift');
    btn.addEventListener('click', () => liftBan(btn, ban));
    return el('tr', { 'data-ip': ban.clientIp }, cell(ban.clientIp, 'mono'), cell(ban.routeId || 'every route', 'mono'), cell(when(ban.bannedAt)),
      cell(when(ban.expiresAt)), cell(ban.reason), el('td', null, btn));
  }), 'no bans in force');
}

async function liftBan(btn, ban) {
  btn.disabled = true;
  try {
    const q = ban.routeId ? '?route=' + encodeURIComponent(ban.routeId) : '';
    const r = await send('DELETE', '/api/bans/' + encodeURIComponent(ban.clientIp) + q);
    notice('Lifted ' + r.lifted + ' ban(s) on ' + ban.clientIp + '.');
  } catch (e) {
    notice('Lifting the ban failed: ' + e.message, true);
  }
  refresh();
}

const levelCls = { ok: 'ok', warning: 'warn', urgent: 'warn', critical: 'bad', expired: 'bad' };

async function loadCerts() {
  const c = await getJSON('/api/certs');
  fill($('certs-body'), (c.certificates || []).map((x) => el('tr', null,
    cell(x.domain), cell(x.days_left, 'num'), pill(x.level, levelCls[x.level]), cell(when(x.not_after)), cell(x.issuer))), 'no certificates');
}

async function loadWebSockets() {
  const w = await getJSON('/api/websockets');
  $('ws-tiles').replaceChildren(tile('open now', num(w.active, 0)), tile('peak 24 h', num(w.peak_24h, 0)),
    tile('closed 24 h', num(w.closed_24h, 0)), tile('average duration', duration(w.avg_duration_s)));
  fill($('ws-body'), (w.long_lived || []).map((x) => el('tr', null, cell(x.route, 'mono'), cell(x.host + x.path, 'mono'),
    cell(when(x.connected_at)), cell(duration(x.duration_s), 'num'), cell(x.node_id))), 'no connection open for more than ' + duration(w.long_lived_threshold_s || 3600));
}

async function loadSlow() {
  const s = await getJSON('/api/slow-requests?period=' + encodeURIComponent($('period').value));
  fill($('slow-body'), (s.endpoints || []).map((x) => el('tr', null, cell(x.route, 'mono'), cell(x.method + ' ' + x.pattern, 'mono'),
    cell(num(x.count, 0), 'num'), cell(num(x.warning, 0), 'num'), cell(num(x.critical, 0), 'num'), cell(num(x.avg_ms), 'num'),
    cell(num(x.p95_ms), 'num'), cell(num(x.max_ms), 'num'))), 'no slow requests in this period');
}

async function loadDataplanes() {
  const d = await getJSON('/api/dataplanes');
  fill($('dp-body'), (d.dataplanes || []).map((x) => {
    const sys = x.system || {};
    return el('tr', null, cell(x.nodeId, 'mono'), pill(x.connected ? 'connected' : 'disconnected', x.connected ? 'ok' : 'bad'),
      cell(x.appliedVersion || '0', 'num'), cell(x.lag || '0', 'num'), cell(ago(x.lastAckTime)),
      x.nackReason ? pill('v' + x.nackVersion + ': ' + x.nackReason, 'bad') : cell('none'),
      cell(num(sys.active_connections, 0), 'num'), cell(sys.rss_bytes ? bytes(sys.rss_bytes) : '—', 'num'),
      cell(sys.uptime_s !== undefined ? duration(sys.uptime_s) : '—', 'num'), cell((x.eventsStored || '0') + ' / ' + (x.eventsDropped || '0'), 'num'));
  }), 'no data plane connected yet');
}

async function loadAudit() {
  const a = await getJSON('/api/audit?limit=30');
  fill($('audit-body'), (a.entries || []).map((x) => el('tr', { 'data-action': x.action }, cell(when(x.time)), cell(x.user), cell(x.action, 'mono'),
    cell(x.resource_type + (x.resource_id ? ' ' + x.resource_id : ''), 'mono'), cell(x.source), cell(x.notes))), 'no entries');
}

async function loadWebhooks() {
  const w = await getJSON('/api/webhooks/deliveries?limit=30');
  const ds = w.deliveries || [];
  fill($('wh-body'), ds.map((x) => el('tr', null, cell(when(x.time)), cell(x.webhook), cell(x.event), cell(x.attempt, 'num'),
    x.status_code >= 200 && x.status_code < 300 ? pill(x.status_code, 'ok') : pill(x.status_code || 'no answer', 'bad'),
    cell(num(x.duration_ms, 0), 'num'), cell(x.error))), 'no deliveries yet');
  const names = [...new Set(ds.map((x) => x.webhook))].sort();
  $('wh-names').replaceChildren(...names.map((n) => el('option', { value: n })));
}

async function testWebhook(ev) {
  ev.preventDefault();
  const name = $('wh-name').value.trim();
  if (!name) return;
  try {
    const r = await send('POST', '/api/webhooks/test?name=' + encodeURIComponent(name));
    notice('Test message to ' + name + ' delivered.');
    void r;
  } catch (e) {
    notice('Test message to ' + name + ' not delivered: ' + e.message, true);
  }
  refresh();
}

// Maintenance: POST/DELETE/GET /api/maintenance. A control plane without the endpoint answers 404.
async function loadMaintenance() {
  const off = $('mnt-unavailable');
  let m;
  try {
    m = await getJSON('/api/maintenance');
  } catch (e) {
    if (e.status !== 404) throw e;
    off.textContent = 'This control plane has no maintenance API (GET /api/maintenance answered 404): maintenance mode cannot be set from here.';
    off.hidden = false;
    $('mnt-form').querySelector('button').disabled = true;
    fill($('mnt-body'), [], 'maintenance is not available');
    return;
  }
  off.hidden = true;
  $('mnt-form').querySelector('button').disabled = false;
  const list = (m && m.windows) || [];
  fill($('mnt-body'), list.map((x) => {
    const btn = el('button', { type: 'button', 'aria-label': 'End maintenance of ' + x.route }, 'End');
    btn.addEventListener('click', () => endMaintenance(btn, x.route));
    const state = x.active === undefined ? (x.state || '—') : x.active ? 'active' : 'scheduled';
    return el('tr', null, cell(x.route, 'mono'), cell(when(x.scheduled_start)), cell(when(x.scheduled_end)), pill(state, state === 'active' ? 'warn' : ''), el('td', null, btn));
  }), 'no maintenance scheduled');
}

const isoOrEmpty = (v) => (v ? new Date(v).toISOString() : undefined);

async function startMaintenance(ev) {
  ev.preventDefault();
  const body = { route: $('mnt-route').value, html_content: $('mnt-html').value || undefined,
    scheduled_start: isoOrEmpty($('mnt-start').value), scheduled_end: isoOrEmpty($('mnt-end').value) };
  try {
    await send('POST', '/api/maintenance', body);
    notice('Maintenance of ' + body.route + ' saved.');
  } catch (e) {
    notice('Maintenance not saved: ' + e.message, true);
  }
  refresh();
}

async function endMaintenance(btn, route) {
  btn.disabled = true;
  try {
    await send('DELETE', '/api/maintenance?route=' + encodeURIComponent(route));
    notice('Maintenance of ' + route + ' ended.');
  } catch (e) {
    notice('Ending maintenance failed: ' + e.message, true);
  }
  refresh();
}

// Reload: POST /api/admin/reload re-reads the files now (the control plane also watches them).
async function reloadConfig() {
  const btn = $('reload');
  btn.disabled = true;
  try {
    const r = await send('POST', '/api/admin/reload');
    notice(r.changed ? 'Configuration reloaded: version ' + r.version + ' is live.' : 'Configuration unchanged: version ' + r.version + ' stays live.');
  } catch (e) {
    notice('Reload refused, the last good configuration stays live: ' + e.message, true);
  } finally {
    btn.disabled = false;
  }
  refresh();
}

async function copyAIContext() {
  const btn = $('copy-ai');
  btn.disabled = true;
  let text = '';
  try {
    const r = await fetch('/api/ai-context', { cache: 'no-store' });
    if (!r.ok) throw new HTTPError('/api/ai-context', r.status, await errorText(r));
    text = await r.text();
    await navigator.clipboard.writeText(text);
    notice('AI context copied (' + bytes(text.length) + ').');
  } catch (e) {
    if (text) {
      $('ai-text').value = text;
      $('ai-fallback').hidden = false;
      $('ai-text').focus();
      $('ai-text').select();
    } else {
      notice('AI context unavailable: ' + e.message, true);
    }
  } finally {
    btn.disabled = false;
  }
}

// ---- refresh loop ----

const views = [
  ['overview', loadStats], ['routes', loadRoutes], ['traffic', loadTraffic], ['errors', loadErrors], ['security', loadSecurity],
  ['certs', loadCerts], ['websockets', loadWebSockets], ['slow', loadSlow], ['dataplanes', loadDataplanes],
  ['maintenance', loadMaintenance], ['webhooks', loadWebhooks], ['audit', loadAudit],
];

// viewError shows a view's failure inside the view, so one broken endpoint leaves the rest live.
function viewError(id, err) {
  const sec = $(id);
  let p = sec.querySelector(':scope > .view-error');
  if (!err) { if (p) p.remove(); return; }
  if (!p) { p = el('p', { class: 'notice bad view-error', role: 'status' }); sec.querySelector('h2').after(p); }
  p.textContent = 'Could not load: ' + err.message;
}

// One refresh at a time; a refresh asked for during one (after a click) runs right after it.
let running = false, again = false;
async function refresh() {
  if (running) { again = true; return; }
  running = true;
  try {
    await loadStatus();
  } catch (e) {
    $('status').textContent = 'control plane unreachable: ' + e.message;
    $('status').className = 'pill bad';
  }
  await Promise.all(views.map(([id, load]) => load().then(() => viewError(id, null), (e) => viewError(id, e))));
  $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  running = false;
  if (again) { again = false; refresh(); }
}

// Poll every 5 s while the tab is visible; a hidden tab costs the control plane nothing.
let timer = null;
function schedule() {
  clearInterval(timer);
  timer = null;
  $('live').textContent = document.hidden ? 'paused while hidden' : 'live, every 5 s';
  if (!document.hidden) {
    timer = setInterval(refresh, REFRESH_MS);
  }
}
document.addEventListener('visibilitychange', () => { schedule(); if (!document.hidden) refresh(); });
$('period').addEventListener('change', refresh);
$('wh-form').addEventListener('submit', testWebhook);
$('mnt-form').addEventListener('submit', startMaintenance);
$('reload').addEventListener('click', reloadConfig);
$('copy-ai').addEventListener('click', copyAIContext);
$('ai-close').addEventListener('click', () => { $('ai-fallback').hidden = true; $('copy-ai').focus(); });
schedule();
refresh();
