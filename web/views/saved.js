// The Saved models section: models kept in this browser's origin-private
// file system (see worker.js), listed with their sizes, to open offline or
// delete.
import { $ } from '../dom.js';
import { fmtBytes } from '../format.js';

// List the saved models; `open(name)` opens one.
export async function refreshSaved(client, open) {
  const status = $('#saved-status');
  let list;
  try {
    list = await client.call('listSaved');
  } catch (err) {
    $('#saved-empty').textContent = `Saving models is not available here: ${err.message}`;
    return;
  }
  const ul = $('#saved-list');
  ul.replaceChildren();
  $('#saved-empty').hidden = list.length > 0;
  for (const { name, size } of list) {
    const li = document.createElement('li');
    li.dataset.name = name;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = name;
    const sz = document.createElement('span');
    sz.className = 'muted';
    sz.textContent = fmtBytes(size);
    const openBtn = document.createElement('button');
    openBtn.type = 'button';
    openBtn.textContent = 'Open';
    openBtn.setAttribute('aria-label', `Open ${name}`);
    openBtn.onclick = () => open(name);
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'secondary';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${name}`);
    del.onclick = async () => {
      try {
        await client.call('deleteSaved', { name });
        status.textContent = `Deleted ${name}.`;
      } catch (err) {
        status.textContent = `Could not delete ${name}: ${err.message}`;
      }
      refreshSaved(client, open);
    };
    li.append(label, sz, openBtn, del);
    ul.append(li);
  }
}

// After a model opened from a file or URL: keep a copy if the user wants.
export async function keep(client, name, open) {
  if (!$('#keep-models').checked) return;
  try {
    const saved = await client.call('saveModel', { name });
    $('#saved-status').textContent = `Saved ${saved} on this device.`;
  } catch (err) {
    $('#saved-status').textContent = `Not saved: ${err.message}`;
  }
  refreshSaved(client, open);
}
