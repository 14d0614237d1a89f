// Small DOM helpers shared by the page scripts: building elements and
// buttons, a status line, and this browser's saved choices. Nothing here
// keeps state.

export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(className, text, onClick) {
  const b = el('button', `small-button ${className}`, text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

export function setStatus(node, text, kind) {
  node.textContent = text;
  node.classList.toggle('ok', kind === 'ok');
  node.classList.toggle('bad', kind === 'bad');
}

// localGet reads a choice saved in this browser; null when there is none
// or storage is off (private modes, blocked cookies: even naming
// localStorage throws then).
export function localGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

// localSet saves a choice in this browser, if it can; otherwise it holds
// for this page only.
export function localSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // not kept
  }
}
