"""Builds the tiny Hugging Face Llama model in this folder and converts it
with llama.cpp's own convert_hf_to_gguf.py (see README.md for the exact
commands and versions). Deterministic: fixed seeds, fixed training text."""
import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

here = os.path.dirname(os.path.abspath(__file__))
model_dir = os.path.join(here, "model")
os.makedirs(model_dir, exist_ok=True)

# --- tokenizer: byte-level BPE with SmolLM2's pre-tokenizer (digits split
# one by one, then GPT-2 byte level), special tokens first as in SmolLM2.
specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
])
tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
text = [
    "Once upon a time there was a little llama who liked to quantize models.",
    "The quick brown fox jumps over the lazy dog. 12345 67890!",
    "Weights are stored as safetensors; llama.cpp reads GGUF files.",
    "Hello world, hello llama, hello quantization: Q4_K, Q8_0, F16, BF16.",
] * 20
trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                              show_progress=False)
tok.train_from_iterator(text, trainer)
tok.save(os.path.join(model_dir, "tokenizer.json"))
n_tok = tok.get_vocab_size()

tok_config = {
    "add_prefix_space": False,
    "added_tokens_decoder": {
        str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                 "single_word": False, "special": True}
        for i, s in enumerate(specials)
    },
    "additional_special_tokens": specials[1:],
    "bos_token": "<|im_start|>",
    "chat_template": "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}",
    "clean_up_tokenization_spaces": False,
    "eos_token": "<|im_end|>",
    "model_max_length": 64,
    "pad_token": "<|im_end|>",
    "tokenizer_class": "GPT2Tokenizer",
    "unk_token": "<|endoftext|>",
    "vocab_size": n_tok,
}
with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
    json.dump(tok_config, f, indent=2)

# --- model: 2 layers, GQA (4 query heads, 2 KV heads) so both Q and K
# permutations are exercised with different head counts; vocab padded past
# the tokenizer so the converter's [PAD] tokens appear.
hidden, inter, layers, heads, kv_heads = 32, 48, 2, 4, 2
head_dim = hidden // heads
vocab = n_tok + 3
config = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "hidden_act": "silu",
    "hidden_size": hidden,
    "initializer_range": 0.02,
    "intermediate_size": inter,
    "max_position_embeddings": 64,
    "model_type": "llama",
    "num_attention_heads": heads,
    "num_hidden_layers": layers,
    "num_key_value_heads": kv_heads,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": None,
    "rope_theta": 100000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.40.0",
    "use_cache": True,
    "vocab_size": vocab,
}
with open(os.path.join(model_dir, "config.json"), "w") as f:
    json.dump(config, f, indent=2)

rng = np.random.default_rng(20261123)


def bf16(a):
    """float32 -> bfloat16 bits (round to nearest even), as uint16 storage."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


tensors = {}
dtypes = {}


def add(name, shape, dtype, scale=0.5):
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    if dtype == "BF16":
        tensors[name] = bf16(x)
    elif dtype == "F16":
        tensors[name] = x.astype(np.float16)
    else:
        tensors[name] = x
    dtypes[name] = dtype


# Mostly BF16 (as most HF checkpoints), with F16 and F32 tensors mixed in so
# all three source types go through the converter.
add("model.embed_tokens.weight", (vocab, hidden), "BF16")
for i in range(layers):
    p = f"model.layers.{i}."
    add(p + "input_layernorm.weight", (hidden,), "F32")
    add(p + "post_attention_layernorm.weight", (hidden,), "BF16")
    add(p + "self_attn.q_proj.weight", (heads * head_dim, hidden), "BF16" if i == 0 else "F16")
    add(p + "self_attn.k_proj.weight", (kv_heads * head_dim, hidden), "F32" if i == 0 else "BF16")
    add(p + "self_attn.v_proj.weight", (kv_heads * head_dim, hidden), "BF16")
    add(p + "self_attn.o_proj.weight", (hidden, heads * head_dim), "BF16")
    add(p + "mlp.gate_proj.weight", (inter, hidden), "BF16")
    add(p + "mlp.up_proj.weight", (inter, hidden), "F16")
    add(p + "mlp.down_proj.weight", (hidden, inter), "BF16")
add("model.norm.weight", (hidden,), "BF16")
add("lm_head.weight", (vocab, hidden), "BF16")

# safetensors.numpy has no bfloat16: write F16 placeholders for the BF16
# tensors, then patch the dtype strings in the header (same byte sizes).
placeholder = {k: (v.view(np.float16) if dtypes[k] == "BF16" else v) for k, v in tensors.items()}
path = os.path.join(model_dir, "model.safetensors")
save_file(placeholder, path, metadata={"format": "pt"})
with open(path, "rb") as f:
    raw = bytearray(f.read())
n = int.from_bytes(raw[:8], "little")
header = json.loads(raw[8:8 + n])
for k, meta in header.items():
    if k != "__metadata__" and dtypes[k] == "BF16":
        meta["dtype"] = "BF16"
new = json.dumps(header, separators=(",", ":")).encode()
new += b" " * (-(8 + len(new)) % 8)
with open(path, "wb") as f:
    f.write(len(new).to_bytes(8, "little") + new + raw[8 + n:])
print(f"{n_tok} tokens, vocab {vocab}, {len(tensors)} tensors", file=sys.stderr)
