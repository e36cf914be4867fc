// Which model the files a user picked or dropped together make up: a GGUF,
// a Hugging Face model (model.safetensors + config.json + tokenizer.json,
// tokenizer_config.json optional) or a llama2.c checkpoint (.bin + its
// tokenizer.bin). Decided by file name, so the user can select a model's
// files in any order; what is missing is said in the file names the user
// would look for.

const HF_NEEDS = 'a Hugging Face model needs model.safetensors, config.json and tokenizer.json (tokenizer_config.json too, if it has one), selected together';
const WHAT_OPENS = 'webquant opens a .gguf file, a Hugging Face model (model.safetensors with its config.json and tokenizer.json) or a llama2.c checkpoint (.bin with its tokenizer.bin), selected or dropped together';

// A browser saves a second download of config.json as "config (1).json".
function baseName(name) {
  return name.toLowerCase().replace(/ \(\d+\)(?=\.[^.]*$)/, '');
}

const list = (files) => files.map((f) => f.name).join(', ');

// llama2.c's tokenizers are called tokenizer.bin or tok<vocab>.bin.
const isTokenizerBin = (name) => /^tok(enizer)?[^/]*\.bin$/.test(baseName(name));

// The folder the files came from (a picked directory), if known.
function folderOf(files) {
  const rel = files.find((f) => f.webkitRelativePath)?.webkitRelativePath ?? '';
  const parts = rel.split('/').filter(Boolean);
  return parts.length > 1 ? parts[parts.length - 2] : null;
}

// A model name from a file name: "stories260K.bin" -> "stories260K".
export const stem = (name) => name.replace(/\.[^.]*$/, '') || name;

/**
 * Sort `files` (File objects; `folder`: the dropped folder they came from,
 * if any) into one model.
 * Returns {kind: 'gguf', file}, {kind: 'hf', weights, config, tokenizer,
 * tokenizerConfig, folder}, {kind: 'llama2c', checkpoint, tokenizer}, or
 * {error} with a sentence for the page.
 */
export function sortModelFiles(files, folder = null) {
  files = [...files];
  if (files.length === 0) return { error: 'No file was selected.' };
  const by = (test) => files.filter((f) => test(baseName(f.name)));
  const gguf = by((n) => n.endsWith('.gguf'));
  const safetensors = by((n) => n.endsWith('.safetensors'));
  const bins = by((n) => n.endsWith('.bin'));

  if (gguf.length > 0) {
    if (gguf.length > 1) return { error: `Open one GGUF at a time (got ${list(gguf)}).` };
    if (safetensors.length + bins.length > 0) {
      return { error: `Open a GGUF on its own, or another model's files without a GGUF (got ${list(files)}).` };
    }
    return { kind: 'gguf', file: gguf[0] };
  }

  const config = by((n) => n === 'config.json');
  const tokenizerJson = by((n) => n === 'tokenizer.json');
  const tokenizerConfig = by((n) => n === 'tokenizer_config.json');
  const hfJson = config.length + tokenizerJson.length + tokenizerConfig.length > 0;

  if (safetensors.length > 0) {
    if (safetensors.length > 1) {
      return { error: `A model in several .safetensors files (${list(safetensors)}) cannot be imported in the page yet: use webquant convert, or a model saved as one model.safetensors.` };
    }
    const w = safetensors[0].name;
    const missing = [config.length ? null : 'config.json', tokenizerJson.length ? null : 'tokenizer.json'].filter(Boolean);
    if (missing.length) {
      return { error: `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing for ${w}: ${HF_NEEDS}.` };
    }
    return {
      kind: 'hf',
      weights: safetensors[0],
      config: config[0],
      tokenizer: tokenizerJson[0],
      tokenizerConfig: tokenizerConfig[0] ?? null,
      folder: folder ?? folderOf(files),
    };
  }

  if (hfJson) {
    // pytorch_model.bin beside config.json is a PyTorch pickle, not llama2.c.
    const torch = bins.find((f) => !isTokenizerBin(f.name));
    if (torch) return { error: `${torch.name} is a PyTorch checkpoint, which webquant does not read: ${HF_NEEDS}.` };
    const have = [...config, ...tokenizerJson, ...tokenizerConfig];
    return { error: `model.safetensors is missing for ${list(have)}: ${HF_NEEDS}.` };
  }

  if (bins.length > 0) {
    if (bins.length > 2) return { error: `A llama2.c model is two files, its checkpoint and tokenizer.bin (got ${list(bins)}).` };
    let tok = bins.filter((f) => isTokenizerBin(f.name));
    let ckpt = bins.filter((f) => !isTokenizerBin(f.name));
    // Two tokenizer-like or two checkpoint-like names: the tokenizer is
    // far smaller than any checkpoint.
    if (bins.length === 2 && tok.length !== 1) {
      const [small, large] = [...bins].sort((a, b) => a.size - b.size);
      tok = [small];
      ckpt = [large];
    }
    if (ckpt.length === 0) return { error: `The llama2.c checkpoint (.bin) is missing for ${tok[0].name}: select the checkpoint together with its tokenizer.` };
    if (tok.length === 0) return { error: `tokenizer.bin is missing for ${ckpt[0].name}: a llama2.c checkpoint needs its tokenizer (tokenizer.bin, or tok512.bin for the small tinyllamas), selected together.` };
    return { kind: 'llama2c', checkpoint: ckpt[0], tokenizer: tok[0] };
  }

  return { error: `${list(files)}: ${WHAT_OPENS}.` };
}

// The files in a drop ({files, folder}), including a dropped folder's (one
// level deep, as a Hugging Face model folder lays them out; `folder` is its
// name). The plain file list where the browser has no entries API.
export async function droppedFiles(dataTransfer) {
  // Entries must be taken before the first await: the drop's data is
  // readable only while its event is being dispatched.
  const entries = [...(dataTransfer.items ?? [])]
    .filter((i) => i.kind === 'file')
    .map((i) => i.webkitGetAsEntry?.())
    .filter(Boolean);
  if (!entries.some((e) => e.isDirectory)) return { files: [...dataTransfer.files], folder: null };
  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
  const out = [];
  let folder = null;
  for (const e of entries) {
    if (e.isFile) {
      out.push(await fileOf(e));
      continue;
    }
    folder ??= e.name;
    const reader = e.createReader();
    // readEntries returns a batch at a time, an empty one at the end.
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) break;
      for (const child of batch) {
        if (child.isFile) out.push(await fileOf(child));
      }
    }
  }
  return { files: out, folder };
}

// What an import of `picked` (sortModelFiles's 'hf' or 'llama2c') reads, for
// the page ("model.safetensors + config.json + tokenizer.json"), and the
// model's name (the worker prefers the name in config.json, _name_or_path).
export function importSources(picked) {
  const sources = picked.kind === 'hf'
    ? [picked.weights, picked.config, picked.tokenizer, picked.tokenizerConfig].filter(Boolean)
    : [picked.checkpoint, picked.tokenizer];
  const name = picked.kind === 'hf' ? picked.folder ?? stem(picked.weights.name) : stem(picked.checkpoint.name);
  return { what: sources.map((f) => f.name).join(' + '), name };
}
