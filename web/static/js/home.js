// FedWave home page: keeps the channel cards of / current without a reload.
// A live frame on the WebSocket (CONTRACT §4) updates its channel's card at
// once; the channel list is fetched again every 30 s for viewer counts and
// thumbnails, which change without a frame. A channel that goes live moves
// to the front. Cards are built the way home.html builds them; a federated
// channel (name alice@host, instance host) carries an "on host" badge.

import { listenLive, localName } from './live.js';

const REFRESH_MS = 30000;

const list = document.getElementById('channels');
if (list) startHome(list);

function startHome(list) {
  listenLive(apply, refresh);
  setInterval(refresh, REFRESH_MS);

  async function refresh() {
    try {
      const res = await fetch('/api/v1/channels', { credentials: 'same-origin' });
      if (!res.ok) return;
      const body = await res.json();
      if (!Array.isArray(body.channels)) return;
      body.channels.forEach((ch) => apply(ch, true));
      // Channels that went away: an unlinked site's, a demoted streamer's.
      const names = new Set(body.channels.map((ch) => ch?.name));
      for (const li of [...list.children]) if (!names.has(li.dataset.channel)) li.remove();
    } catch {
      // Offline for a moment; the next round tries again.
    }
  }

  function cardOf(name) {
    for (const li of list.children) {
      if (li.dataset.channel === name) return li;
    }
    return null;
  }

  // apply brings a channel's card up to date; quiet keeps the order (the
  // periodic refresh), else a channel that just went live moves first.
  function apply(ch, quiet = false) {
    if (!ch || typeof ch.name !== 'string' || !ch.name) return;
    let li = cardOf(ch.name);
    if (!li) {
      li = newCard(ch.name, typeof ch.instance === 'string' ? ch.instance : '');
      // Live ones first: a new live card goes before the first offline one.
      const firstOffline = [...list.children].find((c) => !c.classList.contains('is-live'));
      list.insertBefore(li, ch.live ? firstOffline || null : null);
    }
    const wasLive = li.classList.contains('is-live');
    li.classList.toggle('is-live', Boolean(ch.live));

    const thumb = li.querySelector('.thumb');
    if (typeof ch.thumbnail === 'string' && ch.thumbnail.startsWith('/') && !ch.thumbnail.startsWith('//')) {
      let img = thumb.querySelector('img');
      if (!img) {
        img = document.createElement('img');
        img.alt = '';
        thumb.querySelector('.thumb-empty')?.replaceWith(img);
        if (!img.isConnected) thumb.prepend(img);
      }
      if (img.getAttribute('src') !== ch.thumbnail) img.src = ch.thumbnail;
    }
    for (const b of thumb.querySelectorAll('.badge.live, .badge.viewers, .badge.offline')) b.remove();
    const badges = ch.live
      ? [badge('live', 'LIVE'), badge('viewers', `${Number(ch.viewers) || 0} watching`)]
      : [badge('offline', 'offline')];
    const nsfw = thumb.querySelector('.badge.nsfw');
    for (const b of badges) thumb.insertBefore(b, nsfw);
    if (typeof ch.nsfw === 'boolean') {
      if (ch.nsfw && !nsfw) thumb.append(badge('nsfw', '18+'));
      if (!ch.nsfw && nsfw) nsfw.remove();
    }
    if (typeof ch.title === 'string') li.querySelector('.channel-title').textContent = ch.title || 'No title yet';

    if (ch.live && !wasLive && !quiet) list.prepend(li);
    const nothing = document.getElementById('nothing-live');
    if (nothing) nothing.hidden = Boolean(list.querySelector('.is-live'));
  }
}

function badge(kind, text) {
  const b = document.createElement('span');
  b.className = `badge ${kind}`;
  b.textContent = text;
  return b;
}

// newCard builds an empty card like home.html's.
function newCard(name, instance) {
  const li = document.createElement('li');
  li.className = 'channel-card';
  li.dataset.channel = name;
  const a = document.createElement('a');
  a.href = `/c/${encodeURIComponent(name)}`;
  const thumb = document.createElement('div');
  thumb.className = 'thumb';
  const empty = document.createElement('span');
  empty.className = 'thumb-empty';
  empty.setAttribute('aria-hidden', 'true');
  empty.textContent = '▶';
  thumb.append(empty);
  const meta = document.createElement('div');
  meta.className = 'meta';
  const strong = document.createElement('strong');
  strong.className = 'channel-name';
  strong.textContent = name;
  const title = document.createElement('span');
  title.className = 'channel-title';
  meta.append(strong);
  if (instance) {
    strong.textContent = localName({ name, instance });
    const host = document.createElement('span');
    host.className = 'channel-host';
    host.append(badge('remote', `on ${instance}`));
    meta.append(host);
    li.classList.add('is-remote');
    li.dataset.instance = instance;
  }
  meta.append(title);
  a.append(thumb, meta);
  li.append(a);
  return li;
}
