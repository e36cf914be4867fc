//! Choosing the next token from logits: greedy at temperature 0, otherwise
//! temperature, then top-k, then top-p (nucleus), drawn with a seeded
//! xorshift generator (llama2.c's), so a seed gives the same text everywhere.

use crate::model::forward::softmax;

/// Sampling settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// 0 means greedy (argmax).
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`; 1 keeps all.
    pub top_p: f32,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 40,
            top_p: 0.95,
            seed: 42,
        }
    }
}

pub struct Sampler {
    pub config: SamplerConfig,
    /// xorshift64* state; never 0.
    rng: u64,
    /// (vocab_size,) scratch: (probability, token id).
    candidates: Vec<(f32, u32)>,
}

impl Sampler {
    pub fn new(config: SamplerConfig) -> Sampler {
        // xorshift needs a non-zero state.
        let rng = config.seed.max(1);
        Sampler {
            config,
            rng,
            candidates: Vec::new(),
        }
    }

    fn random_u32(&mut self) -> u32 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }

    /// Uniform in [0, 1).
    fn random_f32(&mut self) -> f32 {
        (self.random_u32() >> 8) as f32 / 16_777_216.0
    }

    /// The next token. `logits` is overwritten with probabilities when not greedy.
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        let c = &self.config;
        if c.temperature <= 0.0 || !c.temperature.is_finite() {
            return argmax(logits);
        }
        let inv_t = 1.0 / c.temperature;
        for l in logits.iter_mut() {
            *l *= inv_t;
        }
        softmax(logits);
        let (top_k, top_p) = (c.top_k, c.top_p);
        self.candidates.clear();
        self.candidates
            .extend(logits.iter().enumerate().map(|(i, &p)| (p, i as u32)));
        self.candidates
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        if top_k > 0 && top_k < self.candidates.len() {
            self.candidates.truncate(top_k);
        }
        if top_p < 1.0 {
            let mut cum = 0.0;
            let mut keep = self.candidates.len();
            for (i, &(p, _)) in self.candidates.iter().enumerate() {
                cum += p;
                if cum >= top_p {
                    keep = i + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
        }
        let total: f32 = self.candidates.iter().map(|c| c.0).sum();
        let r = self.random_f32() * total;
        let mut cum = 0.0;
        for &(p, id) in &self.candidates {
            cum += p;
            if r < cum {
                return id;
            }
        }
        self.candidates.last().map_or(0, |c| c.1)
    }
}

/// Index of the largest logit (the first on ties).
pub fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}
