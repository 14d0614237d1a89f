// The ignore list: handles whose messages and whispers this browser hides,
// kept in localStorage so it survives reloads. Handles compare without case.

import { storageJSON, storageSet } from './util.js';

const IGNORE_KEY = 'fedwave.chat.ignored';

export function loadIgnoreList() {
  const ignored = new Set(storageJSON(localStorage, IGNORE_KEY, []).filter((h) => typeof h === 'string'));

  function has(handle) {
    return ignored.has(String(handle).toLowerCase());
  }

  // toggle ignores handle, or stops ignoring it; it reports whether the
  // handle is ignored now.
  function toggle(handle) {
    const key = handle.toLowerCase();
    const now = !ignored.has(key);
    if (now) ignored.add(key);
    else ignored.delete(key);
    storageSet(localStorage, IGNORE_KEY, JSON.stringify([...ignored]));
    return now;
  }

  return { has, toggle };
}
