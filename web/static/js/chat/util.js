// Small helpers shared by the chat modules: building elements, comparing
// handles, counting characters as the server does, nonces, storage that may
// be missing, and placing a pop-up by its anchor. Nothing here keeps state.

export const LIMIT = 500; // characters per message, as the server counts them
export const GUEST_KEY = 'fedwave.guestToken'; // sessionStorage: this tab's guest token

export { el } from '../dom.js';

export function fullHandle(from) {
  if (!from) return '';
  if (typeof from === 'string') return from;
  const h = typeof from.handle === 'string' ? from.handle : '';
  return from.instance && !h.includes('@') ? `${h}@${from.instance}` : h;
}

export function sameHandle(a, b) {
  return Boolean(a) && Boolean(b) && String(a).toLowerCase() === String(b).toLowerCase();
}

// length counts characters (code points), as the server does.
export function length(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // randomUUID needs a secure context; plain-HTTP instances on a LAN have none.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Storage can be missing or throw (private modes, disabled cookies).
export function storageGet(store, key) {
  try {
    return store.getItem(key);
  } catch {
    return null;
  }
}

export function storageSet(store, key, value) {
  try {
    if (value === null) store.removeItem(key);
    else store.setItem(key, value);
  } catch {
    // Not kept; the chat still works.
  }
}

export function storageJSON(store, key, fallback) {
  try {
    const v = JSON.parse(storageGet(store, key) ?? 'null');
    return Array.isArray(v) ? v : fallback;
  } catch {
    return fallback;
  }
}

// place puts popup under anchor, or above it when there is no room below,
// and keeps it inside the window.
export function place(popup, anchor) {
  const r = anchor.getBoundingClientRect();
  const w = popup.offsetWidth;
  const h = popup.offsetHeight;
  const left = Math.max(4, Math.min(r.left, window.innerWidth - w - 4));
  const top = r.bottom + h + 4 <= window.innerHeight ? r.bottom + 2 : Math.max(4, r.top - h - 2);
  popup.style.left = `${left}px`;
  popup.style.top = `${top}px`;
}
