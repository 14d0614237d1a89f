// The admin page (/admin): sections behind a tab bar (links to #overview,
// #people, #channels, #settings, #emotes, #audit; the settings and emotes
// sections are added by admin_settings.js's page part when present).
// Admins see everything; instance moderators (#admin[data-admin=false])
// see the Overview, People with ban and unban only, Channels with Stop,
// and the audit log. Every action goes through the admin API, which
// checks the caller's role again on each call and writes the audit log;
// after an action the log is read again. #admin[data-loaded] turns
// "true" once the first lists have been shown.

import { api } from './site.js';
import { button, el, setStatus } from './dom.js';
import { startOverview } from './admin_overview.js';
import { startChannels } from './admin_channels.js';

const ROLES = ['user', 'streamer', 'moderator', 'admin'];
// Actions that name no channel when they apply to the whole site.
const SITE_WIDE = new Set(['ban', 'timeout', 'unban']);
const BAN_LENGTHS = [['3600', '1 hour'], ['86400', '1 day'], ['604800', '1 week'], ['0', 'for good']];
const REFRESH_MS = 10000; // the overview's figures change every 10 s

const root = document.getElementById('admin');
if (root) startAdmin();

// startTabs shows one section at a time, the one the URL's #fragment
// names (the Overview by default), without a reload; a link whose section
// is not on the page is hidden, and so is a section without a link.
function startTabs(onShow) {
  const links = [...root.querySelectorAll('.admin-tabs a[data-tab]')];
  const tabs = links.filter((a) => document.getElementById(a.dataset.tab));
  for (const a of links) a.hidden = !tabs.includes(a);
  for (const sec of root.querySelectorAll(':scope > section.fed-section')) {
    if (!tabs.some((a) => a.dataset.tab === sec.id)) sec.hidden = true;
  }
  let current = '';
  const show = (initial) => {
    const want = location.hash.slice(1);
    const pick = tabs.find((a) => a.dataset.tab === want) || tabs.find((a) => a.dataset.tab === current) || tabs[0];
    current = pick.dataset.tab;
    for (const a of tabs) {
      document.getElementById(a.dataset.tab).hidden = a !== pick;
      if (a === pick) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    root.dataset.tab = current;
    if (!initial) onShow(current);
  };
  window.addEventListener('hashchange', () => show(false));
  show(true);
  return () => current;
}

function startAdmin() {
  const $ = (id) => document.getElementById(id);
  const errorBox = $('admin-error');
  const people = { list: $('people-list'), more: $('people-more'), status: $('people-status'), q: '', next: '' };
  const audit = { list: $('audit-list'), more: $('audit-more'), actor: '', action: '', next: 0 };
  const isAdmin = root.dataset.admin === 'true';
  const failed = (err) => setStatus(errorBox, err.message, 'bad');
  const loadOverview = startOverview(isAdmin);
  const loadChannels = startChannels(isAdmin, () => Promise.all([loadAudit(false), refresh(loadOverview)]));
  const refresh = (load) => load().catch(failed);

  async function searchPeople(append) {
    const qs = new URLSearchParams({ q: people.q });
    if (append) qs.set('after', people.next);
    try {
      const { users, next } = await api('GET', `/api/v1/admin/users?${qs}`);
      if (!append) people.list.replaceChildren();
      for (const u of users || []) people.list.append(userRow(u));
      people.next = next || '';
      people.more.hidden = !people.next;
      setStatus(people.status, people.list.children.length ? '' : 'Nobody by that name.', '');
      setStatus(errorBox, '', '');
    } catch (err) {
      failed(err);
    }
  }

  async function loadAudit(append) {
    const qs = new URLSearchParams({ actor: audit.actor, action: audit.action });
    if (append) qs.set('before', String(audit.next));
    try {
      const { entries, next } = await api('GET', `/api/v1/admin/audit?${qs}`);
      if (!append) audit.list.replaceChildren();
      for (const e of entries || []) audit.list.append(auditRow(e));
      audit.next = next || 0;
      audit.more.hidden = !audit.next;
    } catch (err) {
      failed(err);
    }
  }

  // act runs one action on a user, puts the answer in its row and reads
  // the audit log again.
  async function act(row, status, method, path, body, done) {
    setStatus(status, 'Working…', '');
    try {
      const res = await api(method, path, body);
      if (res.user) row.replaceWith(userRow(res.user));
      else if (done) done(res);
      await loadAudit(false);
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  }

  function userRow(u) {
    const row = el('tr');
    row.dataset.user = String(u.id);
    row.dataset.name = u.name;
    const base = `/api/v1/admin/users/${u.id}`;
    const status = el('p', 'form-status');
    status.setAttribute('role', 'status');

    const name = el('td', 'user-handle', u.handle);
    name.style.color = u.color;

    const chat = el('td', 'chat-state', banText(u.ban));
    const actions = el('td', 'user-actions');
    const roleCell = el('td', 'user-role');
    // Moderators act on those below them only, and never on roles.
    const mayBan = isAdmin || !['moderator', 'admin'].includes(u.role);
    if (u.ban && mayBan) {
      actions.append(button('unban', 'Unban', () => act(row, status, 'DELETE', `${base}/ban`)));
    } else if (mayBan) {
      actions.append(button('ban', 'Ban…', () => actions.prepend(banForm(row, status, base, u.handle))));
    }
    row.append(name, roleCell, chat, actions);
    if (!isAdmin) {
      roleCell.textContent = u.role;
      actions.append(status);
      return row;
    }

    const role = el('select', 'role');
    role.setAttribute('aria-label', `Role of ${u.handle}`);
    for (const r of ROLES) {
      const o = el('option', '', r);
      o.value = r;
      o.selected = r === u.role;
      role.append(o);
    }
    role.addEventListener('change', () => act(row, status, 'PUT', `${base}/role`, { role: role.value }));
    roleCell.append(role);
    actions.append(button('reset', 'Password link', () =>
      act(row, status, 'POST', `${base}/reset-link`, {}, ({ url }) => {
        const input = el('input', 'reset-url');
        input.readOnly = true;
        input.value = url;
        input.setAttribute('aria-label', `One-time password link for ${u.handle}`);
        status.replaceChildren('Send them this one-time link: ', input);
        input.select();
      })));
    const del = button('delete', 'Delete', () => {
      if (del.dataset.armed !== 'true') {
        del.dataset.armed = 'true';
        del.textContent = `Really delete ${u.handle}?`;
        return;
      }
      act(row, status, 'DELETE', base, undefined, () => row.remove());
    });
    actions.append(del, status);
    return row;
  }

  function banForm(row, status, base, handle) {
    const form = el('form', 'ban-form');
    const reason = el('input', 'ban-reason');
    reason.maxLength = 500;
    reason.placeholder = 'reason';
    reason.setAttribute('aria-label', `Reason to ban ${handle}`);
    const length = el('select', 'ban-length');
    length.setAttribute('aria-label', 'For how long');
    for (const [v, text] of BAN_LENGTHS) {
      const o = el('option', '', text);
      o.value = v;
      length.append(o);
    }
    const go = el('button', 'small-button ban-confirm', 'Ban');
    go.type = 'submit';
    form.append(reason, length, go);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      act(row, status, 'POST', `${base}/ban`, { reason: reason.value.trim(), seconds: Number(length.value) });
    });
    setTimeout(() => reason.focus());
    return form;
  }

  function banText(ban) {
    if (!ban) return 'may chat';
    const until = ban.expires ? `until ${new Date(ban.expires).toLocaleString()}` : 'for good';
    return `banned ${until}${ban.reason ? `: ${ban.reason}` : ''}`;
  }

  function auditRow(e) {
    const row = el('tr');
    row.dataset.entry = String(e.id);
    row.dataset.action = e.action;
    const when = el('td');
    const time = el('time', '', new Date(e.ts).toLocaleString());
    time.dateTime = e.ts;
    when.append(time);
    row.append(when, el('td', '', e.actor), el('td', 'audit-action', e.action), el('td', 'audit-target', e.target),
      el('td', '', e.channel ? `#${e.channel}` : SITE_WIDE.has(e.action) ? 'everywhere' : ''), el('td', '', e.detail));
    return row;
  }

  $('people-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    people.q = ev.target.elements.q.value.trim();
    searchPeople(false);
  });
  people.more.addEventListener('click', () => searchPeople(true));
  $('audit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    audit.actor = ev.target.elements.actor.value.trim();
    audit.action = ev.target.elements.action.value.trim();
    loadAudit(false);
  });
  audit.more.addEventListener('click', () => loadAudit(true));

  // A tab's lists are read again each time it is shown again; the overview
  // also every REFRESH_MS while it is shown and the page is in view.
  const onShow = { overview: loadOverview, channels: loadChannels, audit: () => loadAudit(false) };
  const currentTab = startTabs((tab) => { if (onShow[tab]) refresh(onShow[tab]); });
  setInterval(() => {
    if (currentTab() === 'overview' && document.visibilityState === 'visible') refresh(loadOverview);
  }, REFRESH_MS);
  Promise.all([searchPeople(false), loadAudit(false), refresh(loadOverview), refresh(loadChannels)])
    .then(() => { root.dataset.loaded = 'true'; });
}
