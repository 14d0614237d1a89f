// The stream chain's picture (CONTRACT §5a): a channel's tree from
// GET /api/v1/channels/{name}/tree drawn as SVG, the origin at the top,
// each relay under its parent, a node's size following its own viewers and
// its colour its kind (and health, where the page knows it). It is asked
// for again every 2 s while the page is visible.
//
// Screen readers get the same tree as a nested list (the SVG is hidden
// from them) and a one-line summary. Every node carries data-id,
// data-kind and data-viewers, for styles and tests.
//
// Elements with data-tree-channel get a picture when this module loads;
// pages that add channels later call mountTree themselves.

const REFRESH_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';
const COL = 120; // px between two leaves
const LABEL = 18; // px under a node for its name
const ROW = 96; // px between two levels
const KIND_TEXT = { origin: 'origin', relay: 'relay', instance: 'linked site', browser: 'viewer relaying' };

for (const el of document.querySelectorAll('[data-tree-channel]')) mountTree(el, el.dataset.treeChannel);

// mountTree draws channel's tree into el and keeps it current. health, if
// given, maps a node to 'ok', 'busy' or 'down' (its colour). It returns a
// function that stops the updates.
export function mountTree(el, channel, health = () => 'ok') {
  el.classList.add('chain-tree');
  const summary = document.createElement('p');
  summary.className = 'chain-summary'; // not a live region: counts change every few seconds
  const picture = document.createElementNS(SVG, 'svg');
  picture.setAttribute('aria-hidden', 'true');
  picture.classList.add('chain-svg');
  const list = document.createElement('ul');
  list.className = 'sr-only';
  list.setAttribute('aria-label', `Stream chain of ${channel}`);
  el.replaceChildren(summary, picture, list);

  let shown = ''; // the JSON drawn last: nothing to redo when it is the same
  let timer = 0;
  let stopped = false;
  const path = `/api/v1/channels/${encodeURIComponent(channel)}/tree`;

  async function refresh() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      const res = await fetch(path, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const body = await res.json();
      const root = clean(body && body.root);
      if (!root) throw new Error('no tree in the answer');
      const key = JSON.stringify(root) + JSON.stringify(healths(root, health));
      el.dataset.stale = 'false';
      if (key !== shown) {
        shown = key;
        draw(picture, list, summary, root, health);
      }
    } catch (err) {
      // The last picture stays, marked as old.
      el.dataset.stale = 'true';
      summary.textContent = `The stream chain could not be updated: ${err.message}`;
      shown = '';
    }
    el.dataset.loaded = 'true';
    if (!stopped) timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 5 : REFRESH_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// clean keeps what the picture needs from a node of the answer, checked.
function clean(n, depth = 0) {
  if (!n || typeof n !== 'object' || depth > 64) return null;
  const viewers = Number(n.viewers);
  return {
    id: String(n.id || ''),
    kind: KIND_TEXT[n.kind] ? n.kind : 'relay',
    name: String(n.name || ''),
    viewers: Number.isFinite(viewers) && viewers > 0 ? Math.floor(viewers) : 0,
    children: Array.isArray(n.children) ? n.children.map((c) => clean(c, depth + 1)).filter(Boolean) : [],
  };
}

function healths(root, health) {
  const out = {};
  walk(root, (n) => { out[n.id] = health(n); });
  return out;
}

function walk(n, fn, depth = 0, parent = null) {
  fn(n, depth, parent);
  for (const c of n.children) walk(c, fn, depth + 1, n);
}

// layout places leaves one column apart and a parent over the middle of
// its children: a tidy tree, good enough for the few dozen relays of one
// origin.
function layout(root) {
  let leaves = 0;
  let depth = 0;
  const place = (n, d) => {
    depth = Math.max(depth, d);
    n.y = d * ROW + 40; // room above for the largest circle
    if (n.children.length === 0) {
      n.x = leaves++ * COL + COL / 2;
      return;
    }
    for (const c of n.children) place(c, d + 1);
    n.x = (n.children[0].x + n.children[n.children.length - 1].x) / 2;
  };
  place(root, 0);
  return { width: Math.max(leaves, 1) * COL, height: (depth + 1) * ROW };
}

function radius(n) {
  return Math.min(8 + 4 * Math.sqrt(n.viewers), 34);
}

function draw(svg, list, summary, root, health) {
  const { width, height } = layout(root);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  const edges = [];
  const nodes = [];
  let relays = 0;
  let viewers = 0;
  walk(root, (n, _depth, parent) => {
    viewers += n.viewers;
    if (n.kind !== 'origin') relays++;
    if (parent) {
      // From under the parent's name to the child's top: no line crosses a name.
      const line = svgEl('line', { x1: parent.x, y1: parent.y + radius(parent) + LABEL, x2: n.x, y2: n.y - radius(n) });
      line.classList.add('chain-edge');
      edges.push(line);
    }
    const g = svgEl('g', { transform: `translate(${n.x} ${n.y})` });
    g.classList.add('chain-node');
    g.dataset.id = n.id;
    g.dataset.kind = n.kind;
    g.dataset.viewers = String(n.viewers);
    g.dataset.health = health(n);
    const title = svgEl('title', {});
    title.textContent = describe(n);
    const r = radius(n);
    const label = svgEl('text', { y: r + 13, 'text-anchor': 'middle' });
    label.classList.add('chain-name');
    label.textContent = n.name.length > 18 ? `${n.name.slice(0, 17)}…` : n.name;
    const count = svgEl('text', { y: 4, 'text-anchor': 'middle' });
    count.classList.add('chain-count');
    count.textContent = String(n.viewers);
    g.append(title, svgEl('circle', { r }), count, label);
    nodes.push(g);
  });
  svg.replaceChildren(...edges, ...nodes);
  list.replaceChildren(listItem(root, health));
  summary.textContent = relays === 0
    ? `${plural(viewers, 'viewer')}, all served by this site.`
    : `${plural(viewers, 'viewer')} through this site and ${plural(relays, 'relay')}.`;
}

function listItem(n, health) {
  const li = document.createElement('li');
  const h = health(n);
  li.textContent = describe(n) + (h === 'ok' ? '' : `, ${h}`);
  if (n.children.length) {
    const ul = document.createElement('ul');
    for (const c of n.children) ul.append(listItem(c, health));
    li.append(ul);
  }
  return li;
}

function describe(n) {
  return `${KIND_TEXT[n.kind]} ${n.name}: ${plural(n.viewers, 'viewer')}`;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function svgEl(name, attrs) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}
