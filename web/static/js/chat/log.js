// The message list (#chat-log): lines in offset order with the sender's
// pending ones last, at most MAX_ITEMS of them, and scrolling that follows
// new lines only while the reader is at the bottom (#chat-more jumps down).

const MAX_ITEMS = 500; // lines kept in the list

// createLog takes over ui.log and ui.more. Offsets of dropped lines leave
// state.seen and raise state.floor, so they are not shown again.
export function createLog(ui, state) {
  const { log, more } = ui;
  let stick = true; // the list follows new lines (the user is at the bottom)

  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    stick = true;
    more.hidden = true;
  }

  log.addEventListener('scroll', () => {
    stick = atBottom();
    if (stick) more.hidden = true;
  }, { passive: true });
  log.addEventListener('load', () => { if (stick) scrollToEnd(); }, true); // emotes change heights
  new ResizeObserver(() => { if (stick) scrollToEnd(); }).observe(log);
  more.addEventListener('click', scrollToEnd);

  // add puts a line in the list: by offset for messages, before the
  // pending ones for everything else.
  function add(li, off) {
    let before = null;
    for (let n = log.lastElementChild; n; n = n.previousElementSibling) {
      const o = n.dataset.offset;
      const later = off !== undefined && o !== undefined && Number(o) > off;
      if (!n.classList.contains('chat-pending') && !later) break;
      before = n;
    }
    log.insertBefore(li, before);
    trim();
    if (stick) scrollToEnd();
    else if (!li.hidden) more.hidden = false;
  }

  // addPending puts the sender's own copy of a message at the end.
  function addPending(li) {
    log.append(li);
    scrollToEnd();
  }

  function trim() {
    let extra = log.children.length - MAX_ITEMS;
    if (extra <= 0) return;
    const height = log.scrollHeight;
    while (extra-- > 0) {
      const first = log.firstElementChild;
      if (!first || first.classList.contains('chat-pending')) break;
      if (first.dataset.offset !== undefined) {
        const o = Number(first.dataset.offset);
        state.seen.delete(o);
        state.floor = Math.max(state.floor, o);
      }
      first.remove();
    }
    if (!stick) log.scrollTop -= height - log.scrollHeight; // keep what the reader looks at in place
  }

  return { add, addPending };
}
