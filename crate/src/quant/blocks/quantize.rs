//! Quantizers for ggml block formats, bit for bit what ggml-quants.c produces.
