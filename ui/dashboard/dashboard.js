'use strict';
// The dashboard reads the control plane's JSON API on the same origin; nothing else.
const $ = (id) => document.getElementById(id);

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null || text === '' ? '—' : String(text);
  if (cls) td.className = cls;
  return td;
}

function row(cells) {
  const tr = document.createElement('tr');
  cells.forEach((c) => tr.appendChild(c));
  return tr;
}

function ago(ts) {
  if (!ts) return '';
  const s = Math.round((Date.now() - Date.parse(ts)) / 1000);
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
  return r.json();
}

async function refresh() {
  try {
    const [status, dps, routes] = await Promise.all([getJSON('/api/status'), getJSON('/api/dataplanes'), getJSON('/api/routes')]);
    const st = $('status');
    st.textContent = status.ready ? 'ready · version ' + status.version : 'not ready: ' + status.reason;
    st.className = 'pill ' + (status.ready ? 'ok' : 'bad');
    $('config-errors').hidden = !(status.config_errors && status.config_errors.length);
    $('errors').replaceChildren(...(status.config_errors || []).map((e) => { const li = document.createElement('li'); li.textContent = e; return li; }));

    const list = dps.dataplanes || [];
    $('dataplanes').replaceChildren(...(list.length ? list.map((d) => row([
      cell(d.nodeId), cell(d.connected ? 'connected' : 'disconnected', d.connected ? 'ok' : 'bad'),
      cell(d.appliedVersion || '0'), cell(d.lag || '0', d.lag && d.lag !== '0' ? 'warn' : ''),
      cell(ago(d.lastAckTime)), cell(d.eventsStored || '0'), cell(d.eventsDropped || '0', d.eventsDropped ? 'warn' : ''),
      cell(d.nackReason ? 'v' + d.nackVersion + ': ' + d.nackReason : '', d.nackReason ? 'bad' : ''),
    ])) : [row([cell('none connected yet')])]));

    $('version').textContent = routes.version ? '(snapshot version ' + routes.version + ')' : '';
    $('routes').replaceChildren(...(routes.routes || []).map((r) => row([
      cell((r.hosts || []).join(', ')), cell(r.path_prefix), cell(r.backend), cell(r.site), cell(r.source_file),
    ])));
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('status').textContent = 'control plane unreachable: ' + e.message;
    $('status').className = 'pill bad';
  }
}

refresh();
setInterval(refresh, 5000);
