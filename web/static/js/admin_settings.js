// The admin page's Site settings, Invite links and Emotes sections. The
// settings form shows what is saved and sends the whole form; a refusal
// names its field (error code invalid_<field>) and is shown next to it.
// #settings[data-loaded] turns "true" once the settings are in the form.

import { api } from './site.js';
import { button, el, setStatus } from './dom.js';

const $ = (id) => document.getElementById(id);
const section = $('settings');
if (section) {
  startSettings();
  startInvites();
  startEmotes();
}

function startSettings() {
  const form = $('site-settings-form');
  const status = $('site-status');
  const fields = {
    name: $('site-name-input'), description: $('site-description-input'), rules: $('site-rules-input'),
    registration: $('site-registration'), chatMaxLength: $('site-chat-max'), chatRate: $('site-chat-rate'),
    chatBurst: $('site-chat-burst'), accentColor: $('site-accent'),
  };
  const clearErrors = () => form.querySelectorAll('.field-error').forEach((e) => { e.textContent = ''; });

  function show({ settings, saved }) {
    for (const [key, input] of Object.entries(fields)) input.value = String(settings[key] ?? '');
    $('site-guests').checked = !!settings.guests;
    $('site-saved-state').textContent = saved ? 'These are the saved settings.' : 'Nothing saved yet: these come from the flags.';
    section.dataset.loaded = 'true';
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const body = {
      name: fields.name.value.trim(), description: fields.description.value, rules: fields.rules.value,
      registration: fields.registration.value, guests: $('site-guests').checked,
      chatMaxLength: Number(fields.chatMaxLength.value), chatRate: Number(fields.chatRate.value),
      chatBurst: Number(fields.chatBurst.value), accentColor: fields.accentColor.value.trim(),
    };
    $('site-save').disabled = true;
    try {
      show(await api('PUT', '/api/v1/admin/settings', body));
      setStatus(status, 'Saved. In force now.', 'ok');
    } catch (err) {
      const where = err.code?.startsWith('invalid_') && $(`err-${err.code.slice(8)}`);
      if (where) where.textContent = err.message;
      setStatus(status, where ? 'Not saved: see the field marked.' : err.message, 'bad');
    } finally {
      $('site-save').disabled = false;
    }
  });

  api('GET', '/api/v1/admin/settings').then(show, (err) => setStatus(status, err.message, 'bad'));
}

function startInvites() {
  const list = $('invite-list');
  const status = $('invite-status');

  async function load() {
    try {
      const { invites } = await api('GET', '/api/v1/admin/invites');
      list.replaceChildren(...(invites || []).map(inviteRow));
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  }

  function inviteRow(inv) {
    const tr = el('tr');
    tr.dataset.invite = String(inv.id);
    tr.append(el('td', '', `#${inv.id}`), el('td', '', `${inv.uses} of ${inv.maxUses}`),
      el('td', '', new Date(inv.expires).toLocaleString()), el('td', 'invite-state', inv.state));
    const actions = el('td');
    actions.append(button('invite-revoke', 'Revoke', async () => {
      try {
        await api('DELETE', `/api/v1/admin/invites/${inv.id}`);
        setStatus(status, `Invite #${inv.id} revoked.`, 'ok');
        load();
      } catch (err) {
        setStatus(status, err.message, 'bad');
      }
    }));
    tr.append(actions);
    return tr;
  }

  $('invite-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const { url } = await api('POST', '/api/v1/admin/invites', {
        uses: Number($('invite-uses').value), seconds: Number($('invite-expiry').value),
      });
      $('invite-url').value = url;
      $('invite-new').hidden = false;
      setStatus(status, 'Invite link made: copy it now, it is not shown again.', 'ok');
      load();
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  });
  load();
}

function startEmotes() {
  const list = $('emote-list');
  const status = $('emote-status');

  async function load() {
    try {
      const { emotes } = await api('GET', '/api/v1/emotes');
      list.replaceChildren(...(emotes || []).map(emoteRow));
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  }

  async function act(promise, done) {
    try {
      await promise;
      setStatus(status, done, 'ok');
      load();
    } catch (err) {
      setStatus(status, err.message, 'bad');
    }
  }

  function emoteRow(e) {
    const tr = el('tr');
    tr.dataset.emote = e.name;
    const img = el('img', 'emote-preview');
    img.src = e.url;
    img.alt = `:${e.name}:`;
    const preview = el('td');
    preview.append(img);
    const rename = el('input', 'emote-rename-name');
    rename.value = e.name;
    rename.maxLength = 32;
    rename.setAttribute('aria-label', `New name for ${e.name}`);
    const actions = el('td');
    actions.append(rename,
      button('emote-rename', 'Rename', () => act(api('PATCH', `/api/v1/emotes/${encodeURIComponent(e.name)}`, { name: rename.value.trim() }), 'Renamed.')),
      button('emote-delete', 'Delete', () => act(api('DELETE', `/api/v1/emotes/${encodeURIComponent(e.name)}`), `Deleted :${e.name}:.`)));
    tr.append(preview, el('td', 'emote-name', `:${e.name}:`), actions);
    return tr;
  }

  // The image goes as the raw body, which api() (JSON only) does not send.
  async function upload(name, file) {
    const res = await fetch(`/api/v1/emotes/${encodeURIComponent(name)}`, { method: 'PUT', credentials: 'same-origin', body: file });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      throw new Error(data.error?.message || `upload failed (${res.status})`);
    }
  }

  $('emote-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('emote-name').value.trim();
    const file = $('emote-file').files[0];
    if (!file) {
      setStatus(status, 'Choose an image first.', 'bad');
      return;
    }
    act(upload(name, file), `Uploaded :${name}:.`);
  });
  load();
}
