// The sale panel: one EventSource, rows updated in place (no re-render of the table), at most
// a few hundred rows in the DOM whatever the number of products.
'use strict';

const $ = (selector) => document.querySelector(selector);
const number = new Intl.NumberFormat('en');
const rate = new Intl.NumberFormat('en', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
const FIELDS = [
  'stock',
  'sold',
  'queued',
  'confirmed',
  'held',
  'sold_out',
  'limit_exceeded',
  'processing_failed',
  'reserved',
  'paid',
  'expired',
  'cancelled',
  'paidShare',
  'decisionsPerSecond',
];
const share = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 0 });
// A held unit's count is in `holds` (paid, expired, cancelled); the paid share is null until a hold ends.
const formatted = (field, value) =>
  field === 'decisionsPerSecond'
    ? rate.format(value)
    : field === 'paidShare'
      ? value === null
        ? '–'
        : share.format(value)
      : number.format(value);
const STALE_AFTER_MS = 2000;

// What the browser tests read to measure staleness without trusting the page's own display.
const probe = { loadedAt: Date.now(), received: 0, log: [] };
window.__salePanel = probe;

let source;
let lastAt = 0;
const rowsById = new Map();

function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

function connect() {
  source?.close();
  const params = new URLSearchParams({ q: $('#search').value.trim(), sort: $('#sort').value, limit: '50' });
  source = new EventSource(`/sale/events?${params}`);
  source.onmessage = (message) => render(JSON.parse(message.data));
  source.addEventListener('unavailable', () => setFreshness('unavailable', 'counters unavailable, retrying…'));
  source.onerror = () => setFreshness('stale', 'connection lost, reconnecting…');
}

function setFreshness(state, text) {
  const element = $('#freshness');
  element.dataset.state = state;
  setText(element, text);
}

function tickFreshness() {
  if (!lastAt) return;
  const age = Date.now() - lastAt;
  if (age > STALE_AFTER_MS) setFreshness('stale', `stale: last data ${(age / 1000).toFixed(1)} s old`);
  else setFreshness('live', `live · data ${age} ms old`);
}

function render(view) {
  const receivedAt = Date.now();
  probe.received += 1;
  probe.log.push({ at: view.at, receivedAt });
  if (probe.log.length > 2000) probe.log.shift();
  lastAt = view.at;
  tickFreshness();

  const t = view.totals;
  const rejected = t.rejected.sold_out + t.rejected.limit_exceeded + t.rejected.processing_failed;
  // Orders won: confirmed at once (no hold) and held for payment, so a sale with holds never reads "0 won".
  const totals = { ...t, ...t.rejected, ...t.holds, rejected, won: t.confirmed + t.held, workers: view.workers };
  for (const element of document.querySelectorAll('[data-total]'))
    setText(element, formatted(element.dataset.total, totals[element.dataset.total]));
  const jobs = view.jobs;
  const queue = { ...jobs, depth: jobs.waiting + jobs.prioritized + jobs.active + jobs.delayed };
  for (const element of document.querySelectorAll('[data-queue]'))
    setText(element, number.format(queue[element.dataset.queue]));

  renderDoor(view.door);
  renderWebhooks(view.webhooks);
  renderUnserved(view.unserved ?? []);
  renderLocks(view.locks);
  renderRows(view.rows);
  setText(
    $('#showing'),
    `showing ${view.rows.length} of ${number.format(view.matched)} matching · ${number.format(t.products)} products`,
  );
}

// The front door: rates a second (summed over every API process) and totals since each started.
function renderDoor(door) {
  const withWindow = (counts) => ({
    ...counts.orders,
    requests: counts.requests,
    window: counts.orders.not_open + counts.orders.closed,
  });
  const perSecond = withWindow(door.perSecond);
  const total = { ...withWindow(door.total), processes: door.processes };
  for (const element of document.querySelectorAll('[data-door-rate]'))
    setText(element, rate.format(perSecond[element.dataset.doorRate]));
  for (const element of document.querySelectorAll('[data-door]'))
    setText(element, number.format(total[element.dataset.door]));
}

// Shown with WEBHOOK_URL: events waiting for the shop's receiver, and those dropped past WEBHOOK_BACKLOG_MAX.
function renderWebhooks(webhooks) {
  const card = $('#webhooks');
  card.hidden = webhooks === null;
  if (webhooks === null) return;
  card.classList.toggle('alert', webhooks.dropped > 0);
  for (const element of document.querySelectorAll('[data-webhooks]')) {
    const field = element.dataset.webhooks;
    const value = webhooks[field];
    setText(element, field === 'lastDroppedAt' ? (value ? `(last ${value})` : '') : number.format(value));
  }
}

// A partition with work and no worker: its orders stay queued until WORKER_PARTITIONS covers it.
function renderUnserved(unserved) {
  const element = $('#unserved');
  element.hidden = unserved.length === 0;
  const list = unserved.map((p) => `partition ${p.partition} (${number.format(p.waiting)} jobs waiting)`).join(', ');
  setText(element, unserved.length ? `No worker serves ${list}: check WORKER_PARTITIONS.` : '');
}

function renderLocks(locks) {
  const body = $('#locks');
  body.replaceChildren(
    ...locks.map((lock) => {
      const tr = document.createElement('tr');
      const cells = [
        lock.productId,
        lock.holder ?? 'free',
        lock.holder ? `${lock.ttlMs} ms` : '–',
        number.format(lock.fence),
      ];
      for (const text of cells) tr.append(Object.assign(document.createElement('td'), { textContent: text }));
      return tr;
    }),
  );
}

function rowFor(productId) {
  let row = rowsById.get(productId);
  if (row) return row;
  const tr = document.createElement('tr');
  tr.dataset.product = productId;
  tr.append(Object.assign(document.createElement('td'), { textContent: productId }));
  const cells = {};
  for (const field of FIELDS) {
    const td = document.createElement('td');
    td.dataset.field = field;
    cells[field] = td;
    tr.append(td);
  }
  row = { tr, cells };
  rowsById.set(productId, row);
  return row;
}

function renderRows(rows) {
  const body = $('#rows');
  const keep = new Set();
  rows.forEach((product, index) => {
    const { tr, cells } = rowFor(product.productId);
    keep.add(product.productId);
    const values = { ...product, ...product.rejected, ...product.holds };
    for (const field of FIELDS) {
      const value = values[field];
      setText(cells[field], formatted(field, value));
      cells[field].classList.toggle('zero', value === 0 || value === null);
    }
    cells.stock.classList.toggle('soldout', product.stock === 0);
    tr.classList.toggle('idle', product.decisionsPerSecond === 0 && product.queued === 0);
    // Moves the row only when its place changed: appendChild of a node already there is a move.
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] ?? null);
  });
  for (const [productId, { tr }] of rowsById) {
    if (keep.has(productId)) continue;
    tr.remove();
    rowsById.delete(productId);
  }
}

let searchTimer;
$('#search').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(connect, 200);
});
$('#sort').addEventListener('change', connect);
setInterval(tickFreshness, 250);
connect();
