// SPDX-License-Identifier: Apache-2.0
// pocketvm web console: a thin client of the admin REST API (docs/api.md).
// The admin token lives in sessionStorage (this tab only) and travels in the
// Authorization header; no cookies, so no cross-site request can use it.
// Everything from the server is written with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('pvm-token');

function status(msg, ok) {
  $('status').textContent = msg || '';
  $('status').className = ok ? 'ok' : '';
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: 'Bearer ' + token } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401) logout();
    throw new Error(`${res.status} ${data.error || ''}: ${data.message || ''}`);
  }
  return data;
}

function when(t) {
  return t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) : '—';
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function button(td, label, onclick, cls) {
  const b = document.createElement('button');
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener('click', onclick);
  td.appendChild(b);
}

function fill(tbodyId, rows, render) {
  const tb = $(tbodyId);
  tb.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    render(tr, r);
    tb.appendChild(tr);
  }
}

async function action(what, fn) {
  try {
    await fn();
    status(what, true);
  } catch (e) {
    status(e.message);
  }
  await show(current);
}

const views = {
  async devices() {
    const { devices } = await api('GET', '/v1/admin/devices');
    fill('devices-body', devices, (tr, d) => {
      tr.dataset.id = d.id;
      cell(tr, d.id, 'mono');
      cell(tr, d.name);
      cell(tr, d.group);
      cell(tr, d.status);
      cell(tr, when(d.last_seen));
      cell(tr, d.seq);
      const td = cell(tr, '');
      if (d.status !== 'retired') {
        button(td, 'Wipe device', () => {
          if (confirm(`Wipe device ${d.id}? Its VMs' keys are deleted now.`))
            action('wipe queued', () => api('POST', `/v1/admin/devices/${d.id}/revoke`, {}));
        }, 'danger');
      }
    });
  },
  async vms() {
    const [{ vms }, { devices }] = await Promise.all([
      api('GET', '/v1/admin/vms'), api('GET', '/v1/admin/devices')]);
    const sel = $('vm-device');
    sel.replaceChildren();
    for (const d of devices.filter((x) => x.status === 'active')) {
      const o = document.createElement('option');
      o.value = d.id;
      o.textContent = `${d.name || ''} ${d.id}`;
      sel.appendChild(o);
    }
    fill('vms-body', vms, (tr, v) => {
      tr.dataset.id = v.id;
      cell(tr, v.id, 'mono');
      cell(tr, v.name);
      cell(tr, v.device, 'mono');
      cell(tr, v.state);
      cell(tr, v.reported ? `${v.reported.state} (${when(v.reported.at)})` : '—');
      cell(tr, v.kid, 'mono');
      const td = cell(tr, '');
      if (v.state === 'active')
        button(td, 'Lock', () => action('lock queued', () =>
          api('POST', `/v1/admin/devices/${v.device}/commands`, { type: 'lock', vm: v.id })));
      if (v.state === 'locked')
        button(td, 'Unlock', () => action('unlock queued', () =>
          api('POST', `/v1/admin/devices/${v.device}/commands`, { type: 'unlock', vm: v.id })));
      if (v.state !== 'revoked')
        button(td, 'Revoke', () => {
          if (confirm(`Revoke VM ${v.id}? Its disk can never be opened again.`))
            action('VM revoked', () => api('POST', `/v1/admin/vms/${v.id}/revoke`, {}));
        }, 'danger');
    });
  },
  async tokens() {
    const [{ tokens }, { groups }] = await Promise.all([
      api('GET', '/v1/admin/enrollment-tokens'), api('GET', '/v1/admin/groups')]);
    const sel = $('token-group');
    const keep = sel.value;
    sel.replaceChildren();
    for (const g of groups) {
      const o = document.createElement('option');
      o.value = o.textContent = g.name;
      sel.appendChild(o);
    }
    if (keep) sel.value = keep;
    fill('tokens-body', tokens, (tr, t) => {
      cell(tr, t.id, 'mono');
      cell(tr, t.group);
      cell(tr, when(t.expires));
      cell(tr, t.device || (t.expires * 1000 < Date.now() ? 'expired' : 'unused'), 'mono');
    });
  },
  async groups() {
    const { groups } = await api('GET', '/v1/admin/groups');
    fill('groups-body', groups, (tr, g) => {
      cell(tr, g.name);
      cell(tr, JSON.stringify(g.policy), 'mono');
    });
  },
  async audit() {
    let after = 0, all = [];
    for (;;) {
      const { entries } = await api('GET', `/v1/admin/audit?after=${after}&limit=1000`);
      all = all.concat(entries);
      if (entries.length < 1000) break;
      after = entries[entries.length - 1].seq;
    }
    fill('audit-body', all.slice(-200), (tr, e) => {
      cell(tr, e.seq);
      cell(tr, when(e.time));
      cell(tr, e.actor, 'mono');
      cell(tr, e.action);
      cell(tr, e.subject, 'mono');
      cell(tr, JSON.stringify(e.detail), 'mono');
    });
  },
};

let current = 'devices';

async function show(view) {
  current = view;
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== view;
  for (const b of document.querySelectorAll('nav button[data-view]'))
    b.classList.toggle('active', b.dataset.view === view);
  try {
    await views[view]();
    document.body.dataset.loaded = view;
  } catch (e) {
    status(e.message);
  }
}

async function login() {
  try {
    const me = await api('GET', '/v1/admin/whoami');
    $('whoami').textContent = me.actor;
    $('login').hidden = true;
    $('nav').hidden = false;
    status('');
    await show(current);
  } catch (e) {
    status('sign-in failed: ' + e.message);
    logout();
  }
}

function logout() {
  token = null;
  sessionStorage.removeItem('pvm-token');
  $('login').hidden = false;
  $('nav').hidden = true;
  for (const s of document.querySelectorAll('.view')) s.hidden = true;
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  sessionStorage.setItem('pvm-token', token);
  login();
});
$('logout').addEventListener('click', logout);
for (const b of document.querySelectorAll('nav button[data-view]'))
  b.addEventListener('click', () => show(b.dataset.view));

$('vm-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  action('VM created', () => api('POST', '/v1/admin/vms',
    { device: $('vm-device').value, name: $('vm-name').value }));
});

$('token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const r = await api('POST', '/v1/admin/enrollment-tokens', {
      group: $('token-group').value,
      count: Number($('token-count').value),
      expires_in: Number($('token-expiry').value),
    });
    $('ca-sha').textContent = r.ca_sha256;
    const ul = $('new-token-list');
    ul.replaceChildren();
    for (const t of r.tokens) {
      const li = document.createElement('li');
      li.textContent = t.token;
      li.className = 'mono new-token';
      ul.appendChild(li);
    }
    $('new-tokens').hidden = false;
    status(`${r.tokens.length} token(s) created`, true);
  } catch (e) {
    status(e.message);
  }
  await views.tokens();
});

$('group-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  let policy;
  try {
    policy = $('group-policy').value ? JSON.parse($('group-policy').value) : undefined;
  } catch (e) {
    status('policy is not JSON');
    return;
  }
  action('group created', () => api('POST', '/v1/admin/groups', { name: $('group-name').value, policy }));
});

if (token) login();
