// kfk console: a small single-page app over the console's JSON API (/api/...), no framework.
//
// Everything that comes from the cluster (topic names, group ids, keys, values, headers, configs, error
// messages) is put into the page as text nodes or attribute values through h(), never as HTML, so a record
// value such as <img onerror=...> is shown, not run. The server also sends a Content-Security-Policy that
// allows scripts from this origin only.
//
// Views are routed by the URL hash (#/topics/<name>, ...). Each view builds its forms once and refreshes its
// data part on a timer (live mode), so typing in a form is never interrupted by an update.

const REFRESH_MS = 3000;
const FOLLOW_MS = 1000;
const MAX_FOLLOWED = 500;

// ---------------------------------------------------------------------------------------------------
// DOM helpers

/** Creates an element: props are assigned as properties (or data-/aria- attributes); strings become text. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'for') el.setAttribute(k, String(v));
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el[k] = v;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link to a console route; segments are URL-encoded, so any topic name or group id is safe in it. */
function link(text, ...segments) {
  return h('a', { href: `#/${segments.map((s) => encodeURIComponent(String(s))).join('/')}` }, text);
}

function table(headers, rows, opts = {}) {
  const head = h('tr', null, headers.map((t) => (typeof t === 'string' ? h('th', null, t) : h('th', { className: t.className ?? '' }, t.text))));
  const body = rows.length === 0 ? [h('tr', null, h('td', { colSpan: headers.length, className: 'muted' }, opts.empty ?? 'None'))] : rows;
  return h('div', { className: 'table-wrap' }, h('table', { id: opts.id }, h('thead', null, head), h('tbody', null, body)));
}

function td(content, className) {
  return h('td', { className: className ?? '' }, content);
}

function card(label, value, id) {
  return h('div', { className: 'card' }, h('div', { className: 'label' }, label), h('div', { className: 'value', id }, value));
}

function badge(text, kind) {
  return h('span', { className: `badge ${kind ?? ''}` }, text);
}

function note(kind, text) {
  return h('div', { className: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

function num(n) {
  return n === null || n === undefined ? 'unknown' : Number(n).toLocaleString('en-US');
}

function bytes(n) {
  if (n === null || n === undefined) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function isoTime(ms) {
  return ms >= 0 ? new Date(ms).toISOString() : 'none';
}

// ---------------------------------------------------------------------------------------------------
// API

class ApiError extends Error {}

async function api(path, opts = {}) {
  const init = { method: opts.method ?? 'GET', headers: {} };
  if (opts.body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(`api/${path}`, init);
  } catch (err) {
    throw new ApiError(`console unreachable: ${err.message}`);
  }
  let data;
  try {
    data = await res.json();
  } catch {
    throw new ApiError(`HTTP ${res.status}`);
  }
  if (!res.ok) throw new ApiError(data && data.error ? data.error : `HTTP ${res.status}`);
  return data;
}

const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------------
// Live status and confirmation

const statusEl = () => document.getElementById('status');

function setStatus(ok, text) {
  const el = statusEl();
  el.textContent = text;
  el.classList.toggle('error', !ok);
}

function liveEnabled() {
  return document.getElementById('live-toggle').checked;
}

/** Asks the user to type `expected` before a destructive action; resolves true when confirmed. */
function confirmTyped(title, text, expected) {
  const dialog = document.getElementById('confirm-dialog');
  const input = document.getElementById('confirm-input');
  const ok = document.getElementById('confirm-ok');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-expected').textContent = expected;
  input.value = '';
  ok.disabled = true;
  input.oninput = () => {
    ok.disabled = input.value !== expected;
  };
  return new Promise((resolve) => {
    document.getElementById('confirm-cancel').onclick = () => dialog.close('cancel');
    dialog.onclose = () => resolve(dialog.returnValue === 'ok' && input.value === expected);
    ok.value = 'ok';
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
}

// ---------------------------------------------------------------------------------------------------
// Views: each is (root, params) => { refresh(): Promise<void>, stop?() }

function overviewView(root) {
  const data = h('div');
  replace(root, h('h1', null, 'Cluster'), data);
  return {
    async refresh() {
      const c = await api('cluster');
      replace(
        data,
        h(
          'div',
          { className: 'cards' },
          card('Cluster id', c.clusterId ?? 'none', 'cluster-id'),
          card('Controller', c.controllerId >= 0 ? `broker ${c.controllerId}` : 'none', 'controller-id'),
          card('Brokers', num(c.brokers.length), 'broker-count'),
          card('Topics', num(c.topics)),
          card('Partitions', num(c.partitions)),
          card('Under-replicated', num(c.underReplicatedPartitions)),
          card('Offline', num(c.offlinePartitions)),
          card('Groups', num(c.groups)),
        ),
        h('h2', null, 'Brokers'),
        table(
          ['Id', 'Host', 'Port', 'Rack', 'Role'],
          c.brokers.map((b) =>
            h(
              'tr',
              { 'data-broker': b.nodeId },
              td(link(String(b.nodeId), 'brokers', b.nodeId)),
              td(b.host, 'name'),
              td(String(b.port), 'num'),
              td(b.rack ?? '—'),
              td(b.isController ? badge('controller', 'ok') : badge('broker')),
            ),
          ),
          { id: 'brokers-table' },
        ),
      );
    },
  };
}

function brokerView(root, [id]) {
  const data = h('div');
  replace(root, h('h1', null, `Broker ${id}`), h('p', null, link('← all brokers', '')), data);
  return {
    async refresh() {
      const configs = await api(`brokers/${enc(id)}/configs`);
      replace(data, h('h2', null, 'Configs'), configTable(configs, true));
    },
  };
}

function configTable(configs, showAll) {
  const rows = configs
    .filter((c) => showAll || !c.isDefault)
    .map((c) => h('tr', null, td(c.name, 'name mono'), td(c.isSensitive ? '(sensitive)' : (c.value ?? 'null'), 'name mono'), td(c.source, 'hide-narrow')));
  return table(['Name', 'Value', { text: 'Source', className: 'hide-narrow' }], rows, { id: 'configs-table', empty: 'No overrides: every config has its default' });
}

function topicsView(root) {
  const filter = h('input', { type: 'search', placeholder: 'Filter topics', id: 'topic-filter', oninput: () => render() });
  const showInternal = h('input', { type: 'checkbox', id: 'show-internal', onchange: () => render() });
  const data = h('div');
  const msg = h('div');
  const form = createTopicForm(msg);
  replace(root, h('h1', null, 'Topics'), h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Filter', filter), h('label', { className: 'check' }, showInternal, 'internal topics')), data, h('h2', null, 'Create a topic'), msg, form);
  let last = [];
  function render() {
    const q = filter.value.trim().toLowerCase();
    const rows = last
      .filter((t) => (showInternal.checked || !t.internal) && t.name.toLowerCase().includes(q))
      .map((t) =>
        h(
          'tr',
          { 'data-topic': t.name },
          td(link(t.name, 'topics', t.name), 'name'),
          td(t.offlinePartitions > 0 ? badge(`${t.offlinePartitions} offline`, 'bad') : t.underReplicatedPartitions > 0 ? badge(`${t.underReplicatedPartitions} under-replicated`, 'warn') : badge('healthy', 'ok'), 'health'),
          td(num(t.partitions), 'num'),
          td(num(t.replicationFactor), 'num hide-narrow'),
          td(num(t.messages), 'num'),
          td(bytes(t.sizeBytes), 'num'),
        ),
      );
    replace(
      data,
      table(
        ['Topic', 'Health', { text: 'Partitions', className: 'num' }, { text: 'RF', className: 'num hide-narrow' }, { text: 'Messages', className: 'num' }, { text: 'Size', className: 'num' }],
        rows,
        { id: 'topics-table', empty: 'No topics' },
      ),
    );
  }
  return {
    async refresh() {
      last = await api('topics');
      render();
    },
  };
}

function createTopicForm(msg) {
  const name = h('input', { name: 'name', id: 'new-topic-name', required: true, autocomplete: 'off', spellcheck: false });
  const partitions = h('input', { name: 'partitions', id: 'new-topic-partitions', type: 'number', min: 1, placeholder: 'broker default' });
  const rf = h('input', { name: 'replicationFactor', id: 'new-topic-rf', type: 'number', min: 1, placeholder: 'broker default' });
  const configs = h('textarea', { name: 'configs', id: 'new-topic-configs', placeholder: 'cleanup.policy=compact\nretention.ms=86400000' });
  return h(
    'form',
    {
      className: 'panel',
      id: 'create-topic-form',
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          const body = { name: name.value.trim(), partitions: partitions.value || null, replicationFactor: rf.value || null, configs: parseKeyValues(configs.value) };
          const r = await api('topics', { method: 'POST', body });
          replace(msg, note('ok', `Created topic ${r.name} with ${r.partitions} partitions, replication factor ${r.replicationFactor}.`));
          name.value = '';
          refreshNow();
        } catch (err) {
          replace(msg, note('error', err.message));
        }
      },
    },
    h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Name', name), h('label', null, 'Partitions', partitions), h('label', null, 'Replication factor', rf)),
    h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Configs (name=value per line)', configs)),
    h('div', { className: 'actions' }, h('button', { type: 'submit', id: 'create-topic' }, 'Create topic')),
  );
}

function parseKeyValues(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new ApiError(`'${t}' is not name=value`);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function topicView(root, [name]) {
  const data = h('div');
  const msg = h('div');
  const showAll = h('input', { type: 'checkbox', id: 'show-all-configs', onchange: () => render() });
  const del = h('button', { className: 'danger', id: 'delete-topic', onclick: () => deleteIt() }, 'Delete topic');
  replace(
    root,
    h('h1', null, 'Topic ', h('span', { className: 'mono', id: 'topic-name' }, name)),
    h('div', { className: 'actions' }, h('a', { href: `#/messages/${enc(name)}`, className: 'button secondary', id: 'browse-topic-link' }, 'Browse messages'), del),
    msg,
    data,
  );
  let last = null;
  let deleted = false;
  async function deleteIt() {
    if (!(await confirmTyped('Delete topic', `Delete topic ${name} and all its records? This cannot be undone.`, name))) return;
    try {
      await api(`topics/${enc(name)}`, { method: 'DELETE', body: { confirm: name } });
      deleted = true;
      replace(msg, note('ok', `Topic ${name} deleted.`));
      replace(data);
      del.disabled = true;
    } catch (err) {
      replace(msg, note('error', err.message));
    }
  }
  function render() {
    if (!last) return;
    const t = last;
    const rows = t.partitions.map((p) =>
      h(
        'tr',
        { 'data-partition': p.partition },
        td(String(p.partition), 'num'),
        td(p.leader >= 0 ? String(p.leader) : badge('none', 'bad')),
        td(p.replicas.join(', ')),
        td(p.isr.length < p.replicas.length ? h('span', { className: 'missing', title: `out of sync: ${p.replicas.filter((r) => !p.isr.includes(r)).join(', ')}` }, p.isr.join(', ') || '—') : p.isr.join(', ')),
        td(num(p.earliestOffset), 'num hide-narrow'),
        td(num(p.latestOffset), 'num hide-narrow'),
        td(p.earliestOffset === null || p.latestOffset === null ? 'unknown' : num(p.latestOffset - p.earliestOffset), 'num'),
        td(h('span', { title: t.sizeNote ?? '' }, bytes(p.sizeBytes)), 'num'),
      ),
    );
    replace(
      data,
      h('p', { className: 'muted' }, `Topic id ${t.topicId}${t.internal ? ' · internal' : ''}`),
      h('h2', null, 'Partitions'),
      table(
        [{ text: 'Partition', className: 'num' }, 'Leader', 'Replicas', 'ISR', { text: 'Start offset', className: 'num hide-narrow' }, { text: 'End offset', className: 'num hide-narrow' }, { text: 'Messages', className: 'num' }, { text: 'Size', className: 'num' }],
        rows,
        { id: 'partitions-table' },
      ),
      t.sizeNote ? h('p', { className: 'muted', id: 'size-note' }, t.sizeNote) : null,
      h('h2', null, 'Configs'),
      h('div', { className: 'row' }, h('label', { className: 'check' }, showAll, 'show defaults too')),
      configTable(t.configs, showAll.checked),
    );
  }
  return {
    async refresh() {
      if (deleted) return;
      last = await api(`topics/${enc(name)}`);
      render();
    },
  };
}

function groupsView(root) {
  const data = h('div');
  replace(root, h('h1', null, 'Consumer groups'), data);
  return {
    async refresh() {
      const groups = await api('groups');
      replace(
        data,
        table(
          ['Group', 'State', { text: 'Members', className: 'num' }, { text: 'Lag', className: 'num' }, { text: 'Coordinator', className: 'hide-narrow' }],
          groups.map((g) =>
            h(
              'tr',
              { 'data-group': g.groupId },
              td(link(g.groupId, 'groups', g.groupId), 'name'),
              td(stateBadge(g.state)),
              td(num(g.members), 'num'),
              td(lagText(g.totalLag), 'num'),
              td(g.coordinator === null ? 'unknown' : String(g.coordinator), 'hide-narrow'),
            ),
          ),
          { id: 'groups-table', empty: 'No consumer groups' },
        ),
      );
    },
  };
}

function stateBadge(state) {
  const kind = state === 'Stable' ? 'ok' : state === 'Empty' ? '' : state === 'Dead' ? 'bad' : 'warn';
  return badge(state, kind);
}

function lagText(lag) {
  if (lag === null || lag === undefined) return 'unknown';
  return h('span', { className: lag > 0 ? 'lag-positive' : '' }, num(lag));
}

function groupView(root, [groupId]) {
  const data = h('div');
  const msg = h('div');
  const topic = h('select', { id: 'reset-topic' }, h('option', { value: '' }, 'all committed topics'));
  const to = h(
    'select',
    { id: 'reset-to', onchange: () => updateValue() },
    ['earliest', 'latest', 'offset', 'timestamp', 'shift'].map((v) => h('option', { value: v }, v === 'shift' ? 'shift by' : v === 'timestamp' ? 'date-time' : v)),
  );
  const value = h('input', { id: 'reset-value', disabled: true, placeholder: '—', autocomplete: 'off' });
  const plan = h('div', { id: 'reset-plan' });
  function updateValue() {
    value.disabled = to.value === 'earliest' || to.value === 'latest';
    value.placeholder = { offset: '42', timestamp: '2024-01-31T12:00:00Z', shift: '-10' }[to.value] ?? '—';
  }
  function resetBody(dryRun) {
    const body = { topic: topic.value || null, to: to.value, dryRun, confirm: dryRun ? undefined : groupId };
    if (to.value === 'offset') body.offset = value.value.trim();
    if (to.value === 'shift') body.shiftBy = value.value.trim();
    if (to.value === 'timestamp') body.timestamp = value.value.trim();
    return body;
  }
  async function reset(dryRun) {
    try {
      if (!dryRun && !(await confirmTyped('Reset offsets', `Commit new offsets for group ${groupId} (${to.value}${value.disabled ? '' : ` ${value.value}`}, ${topic.value || 'all committed topics'})?`, groupId))) return;
      const r = await api(`groups/${enc(groupId)}/reset-offsets`, { method: 'POST', body: resetBody(dryRun) });
      replace(
        plan,
        table(
          ['Topic', { text: 'Partition', className: 'num' }, { text: 'Before', className: 'num' }, { text: 'New offset', className: 'num' }],
          r.offsets.map((o) => h('tr', null, td(o.topic, 'name'), td(String(o.partition), 'num'), td(num(o.previousOffset), 'num'), td(num(o.newOffset), 'num'))),
          { id: 'reset-plan-table' },
        ),
      );
      replace(msg, note('ok', dryRun ? 'Preview: nothing was changed.' : `Offsets of group ${groupId} reset.`));
      if (!dryRun) refreshNow();
    } catch (err) {
      replace(msg, note('error', err.message));
    }
  }
  const form = h(
    'form',
    { className: 'panel', id: 'reset-form', onsubmit: (e) => (e.preventDefault(), reset(false)) },
    h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Topic', topic), h('label', null, 'Reset to', to), h('label', null, 'Value', value)),
    h('div', { className: 'actions' }, h('button', { type: 'button', className: 'secondary', id: 'reset-preview', onclick: () => reset(true) }, 'Preview'), h('button', { type: 'submit', className: 'danger', id: 'reset-execute' }, 'Reset offsets')),
    plan,
  );
  replace(root, h('h1', null, 'Group ', h('span', { className: 'mono', id: 'group-id' }, groupId)), data, h('h2', null, 'Reset offsets'), h('p', { className: 'muted' }, 'Only while the group has no active members, as kafka-consumer-groups --reset-offsets.'), msg, form);
  const knownTopics = new Set();
  return {
    async refresh() {
      const g = await api(`groups/${enc(groupId)}`);
      for (const o of g.offsets) {
        if (knownTopics.has(o.topic)) continue;
        knownTopics.add(o.topic);
        topic.append(h('option', { value: o.topic }, o.topic));
      }
      replace(
        data,
        h(
          'div',
          { className: 'cards' },
          card('State', stateBadge(g.state), 'group-state'),
          card('Members', num(g.members.length)),
          card('Total lag', lagText(g.totalLag), 'group-lag'),
          card('Coordinator', `broker ${g.coordinator.nodeId}`),
          card('Assignor', g.protocol || '—'),
        ),
        h('h2', null, 'Members'),
        table(
          ['Member', 'Client id', 'Host', 'Assignment'],
          g.members.map((m) => h('tr', null, td(m.memberId, 'name mono'), td(m.clientId, 'name'), td(m.clientHost, 'name'), td(m.assignment.map((a) => `${a.topic}-${a.partition}`).join(', ') || '—', 'name'))),
          { id: 'members-table', empty: 'No active members' },
        ),
        h('h2', null, 'Offsets and lag'),
        table(
          ['Topic', { text: 'Partition', className: 'num' }, { text: 'Committed', className: 'num' }, { text: 'End offset', className: 'num' }, { text: 'Lag', className: 'num' }, { text: 'Member', className: 'hide-narrow' }],
          g.offsets.map((o) =>
            h(
              'tr',
              { 'data-tp': `${o.topic}-${o.partition}` },
              td(link(o.topic, 'topics', o.topic), 'name'),
              td(String(o.partition), 'num'),
              td(num(o.committedOffset), 'num'),
              td(num(o.logEndOffset), 'num'),
              td(lagText(o.lag), 'num lag'),
              td(o.memberId ?? '—', 'name mono hide-narrow'),
            ),
          ),
          { id: 'offsets-table', empty: 'No committed offsets' },
        ),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Message browser and test producer

function messagesView(root, [initialTopic]) {
  const topic = h('select', { id: 'browse-topic', onchange: () => topicChanged() });
  const partition = h('select', { id: 'browse-partition' }, h('option', { value: '' }, 'all'));
  const from = h(
    'select',
    { id: 'browse-from', onchange: () => fromChanged() },
    h('option', { value: 'latest' }, 'newest'),
    h('option', { value: 'earliest' }, 'oldest'),
    h('option', { value: 'offset' }, 'offset'),
    h('option', { value: 'timestamp' }, 'date-time'),
  );
  const at = h('input', { id: 'browse-at', disabled: true, placeholder: '—', autocomplete: 'off' });
  const limit = h('input', { id: 'browse-limit', type: 'number', min: 1, max: 500, value: 50 });
  const follow = h('input', { type: 'checkbox', id: 'browse-follow', onchange: () => followChanged() });
  const msg = h('div');
  const summary = h('p', { className: 'muted', id: 'browse-summary' });
  const list = h('div', { className: 'records', id: 'records' });

  const pKey = h('input', { id: 'produce-key', autocomplete: 'off', spellcheck: false, placeholder: 'null' });
  const pValue = h('textarea', { id: 'produce-value', placeholder: '{"hello": "world"}' });
  const pHeaders = h('textarea', { id: 'produce-headers', placeholder: 'trace-id=abc' });
  const pPartition = h('input', { id: 'produce-partition', type: 'number', min: 0, placeholder: 'by key' });
  const pMsg = h('div');

  let positions = null;
  let followTimer = null;
  let shown = 0;

  function fromChanged() {
    at.disabled = from.value === 'latest' || from.value === 'earliest';
    at.placeholder = from.value === 'offset' ? '0' : from.value === 'timestamp' ? '2024-01-31T12:00:00Z' : '—';
  }

  async function topicChanged() {
    replace(partition, h('option', { value: '' }, 'all'));
    if (!topic.value) return;
    history.replaceState(null, '', `#/messages/${enc(topic.value)}`);
    try {
      const t = await api(`topics/${enc(topic.value)}`);
      for (const p of t.partitions) partition.append(h('option', { value: String(p.partition) }, String(p.partition)));
    } catch (err) {
      replace(msg, note('error', err.message));
    }
  }

  function query(fromKind) {
    const q = new URLSearchParams({ limit: limit.value || '50' });
    if (partition.value !== '') q.set('partition', partition.value);
    if (fromKind === 'positions') {
      q.set('from', 'positions');
      q.set('positions', positions.map((p) => `${p.partition}:${p.nextOffset}`).join(','));
    } else {
      q.set('from', from.value);
      if (from.value === 'offset') q.set('offset', at.value.trim());
      if (from.value === 'timestamp') q.set('timestamp', at.value.trim());
    }
    return `topics/${enc(topic.value)}/records?${q}`;
  }

  async function read() {
    if (!topic.value) return;
    try {
      const r = await api(query('new'));
      positions = r.partitions;
      replace(list, r.records.map(recordCard));
      shown = r.records.length;
      summarize();
      replace(msg);
    } catch (err) {
      replace(msg, note('error', err.message));
    }
  }

  async function followStep() {
    if (!positions || !topic.value) return;
    try {
      const r = await api(query('positions'));
      positions = r.partitions;
      append(list, r.records.map(recordCard));
      shown += r.records.length;
      while (list.childElementCount > MAX_FOLLOWED) list.firstElementChild.remove();
      summarize();
    } catch (err) {
      replace(msg, note('error', err.message));
    }
  }

  function summarize() {
    const ends = positions.map((p) => `${p.partition}: ${num(p.logStartOffset)}–${num(p.logEndOffset)}`).join(' · ');
    summary.textContent = `${num(list.childElementCount)} records shown${follow.checked ? ' (following)' : ''}. Partition: offsets ${ends}`;
  }

  function followChanged() {
    clearInterval(followTimer);
    followTimer = null;
    if (!follow.checked) return summarize();
    const start = positions ? Promise.resolve() : read();
    start.then(() => {
      if (follow.checked && followTimer === null) followTimer = setInterval(() => void followStep(), FOLLOW_MS);
    });
  }

  async function produce(e) {
    e.preventDefault();
    try {
      const headers = Object.entries(parseKeyValues(pHeaders.value)).map(([key, value]) => ({ key, value }));
      const body = { key: pKey.value === '' ? null : pKey.value, value: pValue.value, headers, partition: pPartition.value === '' ? null : pPartition.value };
      const r = await api(`topics/${enc(topic.value)}/records`, { method: 'POST', body });
      replace(pMsg, note('ok', `Produced to partition ${r.partition} at offset ${r.offset}.`));
      if (follow.checked) void followStep();
    } catch (err) {
      replace(pMsg, note('error', err.message));
    }
  }

  replace(
    root,
    h('h1', null, 'Messages'),
    h(
      'form',
      { className: 'panel', id: 'browse-form', onsubmit: (e) => (e.preventDefault(), read()) },
      h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Topic', topic), h('label', null, 'Partition', partition), h('label', null, 'From', from), h('label', null, 'Offset / date-time', at), h('label', null, 'Limit', limit)),
      h('div', { className: 'actions' }, h('button', { type: 'submit', id: 'browse-read' }, 'Read'), h('label', { className: 'check' }, follow, 'follow')),
    ),
    msg,
    summary,
    list,
    h('h2', null, 'Produce a test record'),
    pMsg,
    h(
      'form',
      { className: 'panel', id: 'produce-form', onsubmit: produce },
      h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Key', pKey), h('label', null, 'Partition', pPartition)),
      h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Value', pValue)),
      h('div', { className: 'row' }, h('label', { className: 'wide' }, 'Headers (name=value per line)', pHeaders)),
      h('div', { className: 'actions' }, h('button', { type: 'submit', id: 'produce-send' }, 'Produce')),
    ),
  );

  let loadedTopics = false;
  return {
    async refresh() {
      // The topic list is loaded once; the records change only on Read or in follow mode.
      if (loadedTopics) return;
      const topics = await api('topics');
      replace(topic, h('option', { value: '' }, 'choose a topic'), topics.map((t) => h('option', { value: t.name }, t.name)));
      loadedTopics = true;
      if (initialTopic && topics.some((t) => t.name === initialTopic)) {
        topic.value = initialTopic;
        await topicChanged();
        await read();
      }
    },
    stop() {
      clearInterval(followTimer);
    },
  };
}

function shownText(b) {
  if (b === null) return h('span', { className: 'muted' }, 'null');
  const cut = b.truncated ? ` (first ${num(b.data.length)} of ${num(b.size)} bytes)` : '';
  if (b.encoding === 'base64') return h('span', null, h('span', { className: 'muted' }, `binary, base64${cut}: `), h('code', null, b.data));
  return h('span', null, b.data, cut ? h('span', { className: 'muted' }, cut) : null);
}

/** JSON values pretty-printed, other text as it is. */
function valueBlock(b) {
  if (b === null || b.encoding !== 'utf8') return h('pre', { className: 'value' }, shownText(b));
  const t = b.data.trim();
  if (!b.truncated && (t.startsWith('{') || t.startsWith('['))) {
    try {
      return h('pre', { className: 'value json' }, JSON.stringify(JSON.parse(t), null, 2));
    } catch {
      // not JSON after all: shown as text
    }
  }
  return h('pre', { className: 'value' }, shownText(b));
}

function recordCard(r) {
  return h(
    'div',
    { className: 'record', 'data-partition': r.partition, 'data-offset': r.offset },
    h('div', { className: 'meta' }, h('span', null, `partition ${r.partition}`), h('span', null, `offset ${r.offset}`), h('span', null, `${r.timestampType} ${isoTime(r.timestamp)}`)),
    h('div', { className: 'field key' }, h('span', null, 'key'), shownText(r.key)),
    r.headers.length > 0 ? h('div', { className: 'field headers' }, h('span', null, 'headers'), r.headers.map((x, i) => h('span', null, i > 0 ? ', ' : '', h('code', null, x.key), '=', shownText(x.value)))) : null,
    h('div', { className: 'field' }, h('span', null, 'value'), valueBlock(r.value)),
  );
}

// ---------------------------------------------------------------------------------------------------
// Router and live refresh

const ROUTES = [
  { pattern: /^$/, nav: 'overview', view: overviewView },
  { pattern: /^brokers$/, nav: 'overview', view: overviewView },
  { pattern: /^brokers\/([^/]+)$/, nav: 'overview', view: brokerView },
  { pattern: /^topics$/, nav: 'topics', view: topicsView },
  { pattern: /^topics\/([^/]+)$/, nav: 'topics', view: topicView },
  { pattern: /^groups$/, nav: 'groups', view: groupsView },
  { pattern: /^groups\/([^/]+)$/, nav: 'groups', view: groupView },
  { pattern: /^messages(?:\/([^/]+))?$/, nav: 'messages', view: messagesView },
];

let current = null;
let timer = null;
let refreshing = false;

async function refreshNow() {
  if (!current || refreshing) return;
  refreshing = true;
  const view = current;
  const errorBox = document.getElementById('view-error');
  try {
    await view.refresh();
    if (view === current) {
      setStatus(true, `updated ${new Date().toLocaleTimeString()}`);
      replace(errorBox);
    }
  } catch (err) {
    if (view === current) {
      setStatus(false, 'update failed');
      replace(errorBox, note('error', err.message));
    }
  } finally {
    refreshing = false;
  }
}

function route() {
  const path = location.hash.replace(/^#\/?/, '');
  const errorBox = h('div', { id: 'view-error' });
  const main = h('div', { id: 'view' });
  replace(document.getElementById('main'), errorBox, main);
  current?.stop?.();
  let match = null;
  let r = null;
  for (r of ROUTES) {
    match = r.pattern.exec(path);
    if (match) break;
  }
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', match !== null && a.dataset.nav === r.nav);
  if (!match) {
    current = null;
    replace(main, h('h1', null, 'Not found'), h('p', null, link('Back to the cluster', '')));
    return;
  }
  let params;
  try {
    params = match.slice(1).map((s) => (s === undefined ? undefined : decodeURIComponent(s)));
  } catch {
    params = [];
  }
  document.title = `${[r.nav === 'overview' ? 'Brokers' : r.nav[0].toUpperCase() + r.nav.slice(1), ...params.filter((p) => p !== undefined)].join(' · ')} — kfk console`;
  current = r.view(main, params);
  refreshing = false;
  void refreshNow();
}

function startTimer() {
  clearInterval(timer);
  timer = setInterval(() => {
    if (liveEnabled() && document.visibilityState === 'visible') void refreshNow();
  }, REFRESH_MS);
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  route();
  startTimer();
});
