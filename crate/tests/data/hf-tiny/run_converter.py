"""Runs llama.cpp's convert_hf_to_gguf.py unchanged except for one patch:
get_vocab_base_pre() recognises a pre-tokenizer by hashing how the full
tokenizer encodes a test string, so a 300-token vocabulary can never match a
known hash. The tokenizer here has SmolLM2's pre-tokenizer, so the patch
returns the name llama.cpp gives SmolLM2's ("smollm"); everything else is the
converter's own code.
Usage: python run_converter.py LLAMA_CPP_DIR MODEL_DIR OUTTYPE OUTFILE"""
import sys

llama_cpp, model_dir, outtype, outfile = sys.argv[1:5]
sys.path.insert(0, llama_cpp)
sys.path.insert(0, llama_cpp + "/gguf-py")
import conversion.base  # noqa: E402

conversion.base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "smollm"
import convert_hf_to_gguf  # noqa: E402

sys.argv = ["convert_hf_to_gguf.py", model_dir, "--outtype", outtype, "--outfile", outfile]
convert_hf_to_gguf.main()
