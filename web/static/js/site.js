// FedWave site script: small progressive enhancements. Pages work without it.
// User-controlled text is only ever set with textContent, never innerHTML.

import { paintName } from './legible.js';

for (const el of document.querySelectorAll('[data-color]')) paintName(el, el.dataset.color);

// api calls the JSON API with the session cookie; it returns the parsed body
// or throws an Error carrying the server's message (and its code as .code).
// Page scripts import it; the module runs once per page however often it
// is imported.
export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error?.message || `request failed (${res.status})`);
    err.code = data.error?.code || '';
    throw err;
  }
  return data;
}

function showStatus(el, text, ok) {
  el.textContent = text;
  el.classList.toggle('ok', ok);
  el.classList.toggle('bad', !ok);
}

const settings = document.getElementById('settings-form');
if (settings) {
  settings.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const status = document.getElementById('settings-status');
    const button = settings.querySelector('button');
    button.disabled = true;
    try {
      const { channel } = await api('PATCH', `/api/v1/channels/${encodeURIComponent(settings.dataset.channel)}`, {
        title: settings.elements.title.value,
        description: settings.elements.description.value,
        nsfw: settings.elements.nsfw.checked,
      });
      document.getElementById('channel-title').textContent = channel.title || channel.name;
      showStatus(status, 'Saved.', true);
    } catch (err) {
      showStatus(status, err.message, false);
    } finally {
      button.disabled = false;
    }
  });
}

const keyButton = document.getElementById('stream-key-button');
if (keyButton) {
  keyButton.addEventListener('click', async () => {
    const status = document.getElementById('stream-key-status');
    const out = document.getElementById('stream-key');
    keyButton.disabled = true;
    try {
      const { streamKey } = await api('POST', `/api/v1/channels/${encodeURIComponent(keyButton.dataset.channel)}/stream-key`);
      out.value = streamKey;
      out.hidden = false;
      out.select();
      showStatus(status, 'Copy it now: it will not be shown again. The previous key no longer works.', true);
    } catch (err) {
      showStatus(status, err.message, false);
    } finally {
      keyButton.disabled = false;
    }
  });
}
