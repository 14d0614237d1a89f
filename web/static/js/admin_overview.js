// The admin page's Overview: warnings with what to do, what is live, the
// viewers and chat rate, the last hour's CPU, memory, network and chat as
// small SVG charts (drawn here, no library), and linked sites and relays
// at a glance. Read from GET /api/v1/admin/overview.

import { api } from './site.js';
import { el } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 300;
const H = 60;
const HOUR_MS = 3600 * 1000;

export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}

// The charts: each draws one or two figures of the sampler's points.
const CHARTS = [
  { id: 'cpu', title: 'CPU', lines: [['cpu', 'used']], fmt: (v) => `${Math.round(v * 100)}% of a core` },
  { id: 'memory', title: 'Memory', lines: [['rss', 'resident'], ['heap', 'Go heap']], fmt: bytes },
  { id: 'network', title: 'Network', lines: [['netIn', 'in'], ['netOut', 'out']], fmt: (v) => `${bytes(v)}/s` },
  { id: 'chat', title: 'Chat', lines: [['chatPerMin', 'messages']], fmt: (v) => `${v.toFixed(1)} a minute` },
];

// chart draws one figure: a line per series over the last hour, scaled
// to the highest value, with the latest values said in words.
function chart(spec, points, now) {
  const fig = el('figure', 'admin-chart');
  fig.dataset.chart = spec.id;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const top = Math.max(...points.flatMap((p) => spec.lines.map(([k]) => p[k] || 0)), 1e-9);
  const said = [];
  spec.lines.forEach(([key, name], i) => {
    const xy = points.map((p) => {
      const x = W - ((now - new Date(p.t).getTime()) / HOUR_MS) * W;
      const y = H - 1 - ((p[key] || 0) / top) * (H - 2);
      return `${Math.max(0, x).toFixed(1)},${y.toFixed(1)}`;
    });
    if (xy.length === 1) xy.unshift(`${W - 2},${xy[0].split(',')[1]}`); // one reading: a short dash
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', `line-${i}`);
    line.setAttribute('points', xy.join(' '));
    svg.append(line);
    const last = points.length ? points[points.length - 1][key] || 0 : 0;
    const peak = Math.max(0, ...points.map((p) => p[key] || 0));
    said.push(`${spec.lines.length > 1 ? `${name} ` : ''}${spec.fmt(last)} (highest ${spec.fmt(peak)})`);
  });
  const text = `${spec.title}: ${said.join(', ')}`;
  svg.setAttribute('aria-label', `${text}, over the last hour`);
  fig.append(svg, el('figcaption', '', text));
  return fig;
}

// countText is "Linked sites: 2 (1 linked, 1 unreachable)".
function countText(what, c) {
  if (!c.total) return `${what}: none`;
  return `${what}: ${c.total} (${Object.entries(c.byState).map(([s, n]) => `${n} ${s.replaceAll('_', ' ')}`).join(', ')})`;
}

function link(text, href) {
  const a = el('a', '', text);
  a.href = href;
  return a;
}

// startOverview returns the function that (re)loads the overview; the
// Federation and Relays pages are linked for admins (theirs only).
export function startOverview(isAdmin) {
  const $ = (id) => document.getElementById(id);
  const warnings = $('overview-warnings');
  const live = $('overview-live');
  const charts = $('overview-charts');
  const links = $('overview-links');

  function liveItem(ch) {
    const li = el('li');
    li.dataset.channel = ch.name;
    const a = el('a', '', ch.name);
    a.href = `/c/${encodeURIComponent(ch.name)}`;
    const since = ch.since ? new Date(ch.since).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
    li.append(el('span', 'badge live', 'LIVE'), ' ', a,
      ` — ${ch.viewers} watching, since ${since}${ch.title ? ` · ${ch.title}` : ''} (${ch.owner})`);
    return li;
  }

  function warningItem(w) {
    const li = el('li', 'admin-warning');
    li.dataset.code = w.code;
    li.append(el('strong', '', w.text), ' ', el('span', '', w.fix));
    if (w.link && isAdmin) li.append(' ', link('Go there', w.link));
    return li;
  }

  return async function load() {
    const o = await api('GET', '/api/v1/admin/overview');
    warnings.replaceChildren(...(o.warnings || []).map(warningItem));
    $('overview-viewers').textContent = String(o.viewers);
    $('overview-chat').textContent = o.chatPerMin.toFixed(1);
    live.replaceChildren(...(o.live || []).map(liveItem));
    if (!live.children.length) live.append(el('li', 'muted', 'Nothing live right now.'));
    const now = Date.now();
    charts.replaceChildren(...CHARTS.map((spec) => chart(spec, o.history || [], now)));
    const peers = [countText('Linked sites', o.peers)];
    const relays = [countText('Relays', o.relays)];
    if (isAdmin) {
      peers.push(' — ', link('Federation', '/federation'));
      relays.push(' — ', link('Relays', '/relays'));
    }
    links.replaceChildren(...peers, ' · ', ...relays);
  };
}
