// The federation page (/federation, admins only; CONTRACT §6): link this
// site with another by its address, answer link requests, and for each
// peer see its state, its connection and round trip, its last error, and
// turn its two switches, block it or unlink it.
//
// The list comes from GET /api/v1/federation/peers, again every 2 s while
// the page is visible. Each peer keeps one card (li[data-domain]) that is
// updated in place, so focus and a half-made confirmation survive a
// refresh. #federation[data-loaded] turns "true" after the first list.

import { api } from './site.js';
import { button, el, setStatus } from './dom.js';

const REFRESH_MS = 2000;
const PEERS = '/api/v1/federation/peers';

const STATE_TEXT = {
  pending_out: 'waiting for their admin',
  pending_in: 'asks to link',
  linked: 'linked',
  blocked: 'blocked',
};

const SWITCHES = [
  ['outgoing', 'Outgoing', 'Off: nothing of ours reaches them (our channels, our users’ messages and whispers, our streams).'],
  ['incoming', 'Incoming', 'Off: nothing of theirs is accepted (their users in our rooms, their whispers, their channels and streams on our pages).'],
];

const root = document.getElementById('federation');
if (root) startFederation(root);

function startFederation(root) {
  const $ = (id) => document.getElementById(id);
  const requests = $('fed-requests');
  const linked = $('fed-peers');
  const errorBox = $('fed-error');
  const form = $('fed-link-form');
  const formStatus = $('fed-link-status');
  const cards = new Map(); // domain -> card
  let timer = 0;
  let asked = 0; // lists asked for
  let shown = 0; // the newest list shown
  let changes = 0; // changes this page made

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = $('fed-link-submit');
    const url = form.elements.url.value.trim();
    if (!url) return;
    button.disabled = true;
    setStatus(formStatus, 'Sending the request…', '');
    try {
      changes++;
      const { peer } = await api('POST', PEERS, { url });
      form.reset();
      const who = peer?.name || peer?.domain || url;
      setStatus(formStatus, peer?.state === 'linked' ? `Linked with ${who}.` : `Request sent to ${who}: waiting for their admin.`, 'ok');
      await refresh();
    } catch (err) {
      setStatus(formStatus, err.message, 'bad');
      form.elements.url.focus();
    } finally {
      button.disabled = false;
    }
  });

  // refresh shows the server's list. A list asked for before a change of
  // this page, or older than one shown, is dropped: it would show the
  // switch that was just turned flip back for a moment.
  async function refresh() {
    const my = ++asked;
    const before = changes;
    try {
      const { peers } = await api('GET', PEERS);
      if (my < shown || before !== changes) return;
      shown = my;
      render(Array.isArray(peers) ? peers.filter((p) => p && typeof p.domain === 'string' && p.domain) : []);
      setStatus(errorBox, '', '');
      root.dataset.loaded = 'true';
    } catch (err) {
      setStatus(errorBox, `The list of linked sites could not be loaded: ${err.message}`, 'bad');
    }
  }

  function render(peers) {
    const seen = new Set();
    const next = new Map([[requests, 0], [linked, 0]]); // list -> index of the next card
    for (const p of peers) {
      seen.add(p.domain);
      let card = cards.get(p.domain);
      if (!card) {
        card = newCard(p.domain, act);
        cards.set(p.domain, card);
      }
      card.update(p);
      // In the server's order; a card already in place is not moved, since
      // moving an element takes the focus away from what is in it.
      const list = p.state === 'pending_in' ? requests : linked;
      const i = next.get(list);
      if (list.children[i] !== card.li) list.insertBefore(card.li, list.children[i] || null);
      next.set(list, i + 1);
    }
    for (const [domain, card] of cards) {
      if (!seen.has(domain)) {
        card.li.remove();
        cards.delete(domain);
      }
    }
    $('fed-requests-count').textContent = String(requests.children.length);
    $('fed-requests-empty').hidden = requests.children.length > 0;
    $('fed-peers-empty').hidden = linked.children.length > 0;
  }

  // act sends one change of a peer and shows the answer; a refused change
  // is told in the card, and the next refresh shows what the server has.
  async function act(card, method, body) {
    card.setBusy(true);
    changes++;
    try {
      await api(method, `${PEERS}/${encodeURIComponent(card.domain)}`, body);
      card.say('', '');
    } catch (err) {
      card.say(err.message, 'bad');
    } finally {
      card.setBusy(false);
      await refresh();
    }
  }

  function schedule() {
    clearInterval(timer);
    if (document.visibilityState === 'visible') timer = setInterval(refresh, REFRESH_MS);
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
    schedule();
  });
  refresh();
  schedule();
}


// newCard builds the card of one peer. act(card, method, body) changes it.
function newCard(domain, act) {
  const id = `peer-${domain.replace(/[^a-z0-9]/gi, '-')}`;
  const li = el('li', 'card peer');
  li.dataset.domain = domain;
  li.setAttribute('aria-labelledby', `${id}-name`);

  const name = el('a', 'peer-name');
  name.id = `${id}-name`;
  name.target = '_blank';
  name.rel = 'noopener';
  const state = el('span', 'badge peer-state');
  const domainText = el('span', 'peer-domain muted', domain);
  const head = el('div', 'peer-head');
  head.append(name, domainText, state);

  const connected = el('dd', 'peer-connected');
  const rtt = el('dd', 'peer-rtt');
  const since = el('dd', 'peer-since');
  const lastError = el('dd', 'peer-error');
  const facts = el('dl', 'peer-facts');
  for (const [label, dd] of [['Connection', connected], ['Round trip', rtt], ['Since', since], ['Last error', lastError]]) {
    const div = el('div');
    div.append(el('dt', '', label), dd);
    facts.append(div);
  }

  const switches = el('div', 'peer-switches');
  const toggles = {};
  for (const [key, label, help] of SWITCHES) {
    const input = el('input', `peer-${key}`);
    input.type = 'checkbox';
    input.setAttribute('role', 'switch');
    input.id = `${id}-${key}`;
    input.setAttribute('aria-describedby', `${id}-${key}-help`);
    input.addEventListener('change', () => act(card, 'PATCH', { [key]: input.checked }));
    const lab = el('label', 'switch');
    lab.htmlFor = input.id;
    lab.append(input, el('span', 'switch-label', label));
    const small = el('small', 'switch-help muted', help);
    small.id = `${id}-${key}-help`;
    const row = el('div', 'switch-row');
    row.append(lab, small);
    switches.append(row);
    toggles[key] = input;
  }

  const actions = el('div', 'peer-actions');
  const approve = button('peer-approve', 'Approve', () => act(card, 'PATCH', { approve: true }));
  const refuse = button('peer-refuse secondary', 'Refuse', () => act(card, 'DELETE'));
  const block = button('peer-block secondary', 'Block', () => act(card, 'PATCH', { blocked: !card.blocked }));
  const unlink = button('peer-unlink danger', 'Unlink…', () => confirmUnlink(true));
  const confirmRow = el('div', 'peer-confirm');
  confirmRow.setAttribute('role', 'group');
  confirmRow.setAttribute('aria-label', 'Confirm unlinking');
  const confirmYes = button('peer-unlink-confirm danger', 'Unlink', () => { confirmUnlink(false); act(card, 'DELETE'); });
  const confirmNo = button('peer-unlink-cancel secondary', 'Cancel', () => { confirmUnlink(false); unlink.focus(); });
  confirmRow.append(el('span', 'peer-confirm-text', `Unlink ${domain}? Both sites stop sharing at once.`), confirmYes, confirmNo);
  confirmRow.hidden = true;
  actions.append(approve, refuse, block, unlink, confirmRow);

  function confirmUnlink(on) {
    confirmRow.hidden = !on;
    unlink.hidden = on;
    if (on) confirmYes.focus();
  }

  const note = el('p', 'form-status peer-note');
  note.setAttribute('role', 'status');
  li.append(head, facts, switches, actions, note);

  const card = {
    li,
    domain,
    blocked: false,
    busy: false,
    update(p) {
      li.dataset.state = p.state;
      card.blocked = p.state === 'blocked';
      name.textContent = p.name || domain;
      domainText.hidden = !p.name || p.name === domain;
      if (/^https?:\/\//i.test(p.url || '')) name.href = p.url;
      else name.removeAttribute('href');
      state.textContent = STATE_TEXT[p.state] || String(p.state || 'unknown');
      state.dataset.state = p.state;

      const on = Boolean(p.connected);
      connected.dataset.connected = String(on);
      connected.replaceChildren(el('span', 'dot', ''), on ? 'connected' : 'not connected');
      const ms = Number(p.rttMs);
      rtt.textContent = !on || !Number.isFinite(ms) || ms < 0 ? '–' : ms < 1 ? '<1 ms' : `${Math.round(ms)} ms`;
      since.replaceChildren(timeEl(p.since));
      lastError.textContent = p.lastError || 'none';
      lastError.classList.toggle('bad', Boolean(p.lastError));

      const request = p.state === 'pending_in';
      switches.hidden = request || card.blocked;
      if (!card.busy) {
        toggles.incoming.checked = Boolean(p.incoming);
        toggles.outgoing.checked = Boolean(p.outgoing);
      }
      approve.hidden = refuse.hidden = !request;
      unlink.hidden = request || !confirmRow.hidden;
      block.textContent = card.blocked ? 'Unblock' : 'Block';
      unlink.textContent = p.state === 'pending_out' ? 'Withdraw request…' : 'Unlink…';
    },
    setBusy(on) {
      card.busy = on;
      for (const c of li.querySelectorAll('button, input')) c.disabled = on;
      li.setAttribute('aria-busy', String(on));
    },
    say(text, kind) {
      setStatus(note, text, kind);
    },
  };
  return card;
}

function timeEl(value) {
  const d = new Date(value);
  if (!value || Number.isNaN(d.getTime())) return '–';
  const t = el('time', '', d.toLocaleString());
  t.dateTime = d.toISOString();
  return t;
}
