// The admin page's Channels: every channel of this site with its owner,
// live state, viewers and title. Stop ends a live stream now (moderators
// and admins); Rotate key replaces the stream key without showing the
// new one (admins; the owner makes a new key in the studio). The API
// checks the caller's role again and writes the audit log.

import { api } from './site.js';
import { button, el, setStatus } from './dom.js';

// startChannels returns the function that (re)loads the list; done runs
// after each action (to read the audit log again).
export function startChannels(isAdmin, done) {
  const list = document.getElementById('channels-list');
  const status = document.getElementById('channels-status');
  // A list read before an action answers after it would show the channel
  // as it was: each load or action bumps gen, and a load that is no
  // longer the latest step is dropped.
  let gen = 0;

  async function act(row, ch, path, said) {
    gen++;
    setStatus(status, 'Working…', '');
    try {
      const res = await api('POST', `/api/v1/admin/channels/${encodeURIComponent(ch.name)}/${path}`, {});
      row.replaceWith(channelRow(res.channel));
      setStatus(status, said, 'ok');
      await done();
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  }

  function stateText(ch) {
    if (!ch.live) return 'offline';
    const since = ch.startedAt ? new Date(ch.startedAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
    return `live since ${since}, ${ch.viewers} watching`;
  }

  function channelRow(ch) {
    const row = el('tr');
    row.dataset.channel = ch.name;
    row.dataset.live = String(ch.live);
    const name = el('td');
    const a = el('a', '', ch.name);
    a.href = `/c/${encodeURIComponent(ch.name)}`;
    name.append(a);
    const actions = el('td', 'channel-actions');
    if (ch.live) {
      actions.append(button('stop', 'Stop stream', () =>
        act(row, ch, 'stop', `Stopped ${ch.name}'s stream; ${ch.owner} can go live again.`)));
    }
    if (isAdmin) {
      const rotate = button('rotate', 'Rotate key', () => {
        if (rotate.dataset.armed !== 'true') {
          rotate.dataset.armed = 'true';
          rotate.textContent = 'Really replace the key?';
          return;
        }
        act(row, ch, 'rotate-key', `${ch.name}'s old stream key no longer works; ${ch.owner} makes a new one in the studio.`);
      });
      actions.append(rotate);
    }
    row.append(name, el('td', '', ch.owner), el('td', 'channel-state', stateText(ch)), el('td', '', ch.title), actions);
    return row;
  }

  return async function load() {
    const my = ++gen;
    const { channels } = await api('GET', '/api/v1/admin/channels');
    if (my !== gen) return;
    list.replaceChildren(...(channels || []).map(channelRow));
    if (!list.children.length) {
      const td = el('td', 'muted', 'No channels yet: make someone a streamer under People.');
      td.colSpan = 5;
      const tr = el('tr');
      tr.append(td);
      list.append(tr);
    }
  };
}
