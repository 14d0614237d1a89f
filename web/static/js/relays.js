// The relays page (/relays, admins only; CONTRACT §5a): the relays of the
// stream chain with their state, viewers, capacity, uptime and parent; a
// form that makes a relay's token, shown once with the command to run;
// revocation; and the tree of each live channel of this site (tree.js).
//
// The list comes from GET /api/v1/relays, again every 2 s while the page
// is visible. Each relay keeps one card (li[data-name]) updated in place,
// so focus and a half-made confirmation survive a refresh.
// #relays[data-loaded] turns "true" after the first list.

import { api } from './site.js';
import { button, el, setStatus } from './dom.js';
import { mountTree } from './tree.js';

const REFRESH_MS = 2000;
const RELAYS = '/api/v1/relays';
const BUSY = 0.9; // a relay this full is drawn as busy

const root = document.getElementById('relays');
if (root) startRelays(root);

function startRelays(root) {
  const $ = (id) => document.getElementById(id);
  const form = $('relay-form');
  const formStatus = $('relay-form-status');
  const errorBox = $('relays-error');
  const list = $('relays-list');
  const trees = $('relay-trees');
  const cards = new Map(); // name -> card
  const mounted = new Map(); // channel -> {figure, stop}
  let byName = new Map(); // the latest relay list, for the trees' colours
  let timer = 0;

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = form.elements.name.value.trim().toLowerCase();
    if (!name) return;
    const submit = $('relay-create');
    submit.disabled = true;
    setStatus(formStatus, 'Creating…', '');
    try {
      const { relay, token } = await api('POST', RELAYS, { name });
      form.reset();
      setStatus(formStatus, `Relay ${relay?.name || name} created.`, 'ok');
      showToken(relay?.name || name, String(token || ''));
      await refresh();
    } catch (err) {
      setStatus(formStatus, err.message, 'bad');
      form.elements.name.focus();
    } finally {
      submit.disabled = false;
    }
  });

  // showToken shows the new relay's token and command, this once: they
  // live in this page only, and leave it with Done.
  function showToken(name, token) {
    const origin = root.dataset.origin || location.origin;
    $('relay-token-name').textContent = name;
    $('relay-token').value = token;
    $('relay-command').textContent = `fedwave relay --origin ${origin} --token ${token}`;
    const box = $('relay-token-box');
    box.hidden = false;
    box.focus();
  }
  $('relay-token-done').addEventListener('click', () => {
    $('relay-token').value = '';
    $('relay-command').textContent = '';
    $('relay-token-box').hidden = true;
    form.elements.name.focus();
  });
  $('relay-command-copy').addEventListener('click', () => {
    navigator.clipboard?.writeText($('relay-command').textContent).catch(() => {});
  });

  async function refresh() {
    clearTimeout(timer);
    try {
      const [{ relays }, { channels }] = await Promise.all([api('GET', RELAYS), api('GET', '/api/v1/channels')]);
      const valid = Array.isArray(relays) ? relays.filter((r) => r && typeof r.name === 'string' && r.name) : [];
      render(valid);
      showTrees(Array.isArray(channels) ? channels : []);
      setStatus(errorBox, '', '');
      root.dataset.loaded = 'true';
    } catch (err) {
      setStatus(errorBox, `The relays could not be loaded: ${err.message}`, 'bad');
    }
    timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 5 : REFRESH_MS);
  }

  function render(relays) {
    byName = new Map(relays.map((r) => [r.name, r]));
    for (const [name, card] of cards) {
      if (!byName.has(name)) {
        card.remove();
        cards.delete(name);
      }
    }
    relays.forEach((r, i) => {
      let card = cards.get(r.name);
      if (!card) {
        card = newCard(r.name, revoke);
        cards.set(r.name, card);
      }
      fill(card, r);
      // In the server's order, moving only what is out of place: a card
      // moved on every refresh loses its node under a click in progress.
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    });
    $('relays-empty').hidden = relays.length > 0;
  }

  async function revoke(card) {
    try {
      await api('DELETE', `${RELAYS}/${encodeURIComponent(card.dataset.name)}`);
      card.querySelector('.peer-note').textContent = 'Revoked.';
      await refresh();
    } catch (err) {
      card.querySelector('.peer-note').textContent = err.message;
    }
  }

  // health colours a tree's relay nodes from the relay list.
  function health(node) {
    if (node.kind !== 'relay') return 'ok';
    const r = byName.get(node.name);
    if (!r || !r.connected) return 'down';
    return r.capacity > 0 && r.viewers >= BUSY * r.capacity ? 'busy' : 'ok';
  }

  // showTrees keeps one picture per live channel of this site.
  function showTrees(channels) {
    const live = new Set(channels.filter((c) => c && c.live && !c.instance && typeof c.name === 'string').map((c) => c.name));
    for (const [name, m] of mounted) {
      if (!live.has(name)) {
        m.stop();
        m.figure.remove();
        mounted.delete(name);
      }
    }
    for (const name of live) {
      if (mounted.has(name)) continue;
      const figure = el('figure', 'relay-tree');
      figure.dataset.channel = name;
      const caption = el('figcaption', '', name);
      const body = el('div', '');
      figure.append(caption, body);
      trees.append(figure);
      mounted.set(name, { figure, stop: mountTree(body, name, health) });
    }
    $('relay-trees-empty').hidden = live.size > 0;
  }

  refresh();
}

const STATE_TEXT = { connected: 'connected', disconnected: 'not connected', revoked: 'revoked' };

// newCard builds the card of one relay; revoke(card) revokes it after a
// confirmation in the card.
function newCard(name, revoke) {
  const id = `relay-${name}`;
  const li = el('li', 'card peer relay');
  li.dataset.name = name;
  li.setAttribute('aria-labelledby', `${id}-name`);
  const head = el('div', 'peer-head');
  const title = el('span', 'peer-name', name);
  title.id = `${id}-name`;
  const state = el('span', 'badge relay-state');
  head.append(title, state);
  const facts = el('dl', 'peer-facts');
  for (const [key, label] of [['url', 'Address'], ['viewers', 'Viewers'], ['uptime', 'Up for'], ['parent', 'Fed by']]) {
    const d = el('div', '');
    const dd = el('dd', `relay-${key}`);
    d.append(el('dt', '', label), dd);
    facts.append(d);
  }
  const actions = el('div', 'peer-actions');
  const ask = button('relay-revoke danger', 'Revoke…', () => confirming(true));
  const confirmRow = el('div', 'peer-confirm');
  confirmRow.setAttribute('role', 'group');
  confirmRow.setAttribute('aria-label', 'Confirm revoking');
  const yes = button('relay-revoke-confirm danger', 'Revoke', () => { confirming(false); revoke(li); });
  const no = button('relay-revoke-cancel secondary', 'Cancel', () => { confirming(false); ask.focus(); });
  confirmRow.append(el('span', 'peer-confirm-text', `Revoke ${name}? It stops at once; its viewers are moved.`), yes, no);
  confirmRow.hidden = true;
  actions.append(ask, confirmRow);
  const note = el('p', 'form-status peer-note');
  note.setAttribute('role', 'status');
  li.append(head, facts, actions, note);
  function confirming(on) {
    ask.hidden = on;
    confirmRow.hidden = !on;
    if (on) no.focus();
  }
  return li;
}

function fill(card, r) {
  const state = STATE_TEXT[r.state] ? r.state : 'disconnected';
  card.dataset.state = state;
  const badge = card.querySelector('.relay-state');
  badge.dataset.state = state;
  badge.textContent = STATE_TEXT[state];
  const set = (key, text) => { card.querySelector(`.relay-${key}`).textContent = text; };
  set('url', r.url || '—');
  set('viewers', r.connected ? `${num(r.viewers)} of ${num(r.capacity)}` : '—');
  set('uptime', r.connected ? duration(num(r.uptime)) : '—');
  set('parent', r.connected ? (r.parent || 'this site') : '—');
  const revoked = state === 'revoked';
  const ask = card.querySelector('.relay-revoke');
  if (revoked) {
    ask.hidden = true;
    card.querySelector('.peer-confirm').hidden = true;
  }
}

function num(v) {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
