// Small DOM helpers shared by the page scripts: building elements and
// buttons, and a status line. Nothing here keeps state.

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
