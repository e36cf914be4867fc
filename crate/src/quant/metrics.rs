//! Error metrics between original and dequantized tensors.
