//! Number formats: f32 <-> f16 / bf16 / tf32 / fp8 / fp4 / int8, and bit fields for teaching.
