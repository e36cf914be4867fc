// The little DOM building the pages share.

export const $ = (sel) => document.querySelector(sel);

// Append a row of [text or Node, class] cells to `tbody`; returns the row.
export function row(tbody, cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) {
    const td = document.createElement('td');
    if (text instanceof Node) td.append(text);
    else td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }
  tbody.append(tr);
  return tr;
}

// Fill a <dl> with [label, value, id] facts (the id on each <dd>).
export function showFacts(dl, facts) {
  dl.replaceChildren();
  for (const [k, v, id] of facts) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.id = id;
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}
