"""The benchmark data of crate/src/quant/synth.rs, reproduced bit for bit."""
import numpy as np

M64 = (1 << 64) - 1


def _splitmix64_stream(seed: int, n: int) -> np.ndarray:
    # state_k = seed + k * golden (mod 2^64), then the splitmix64 mix.
    k = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def _uniform(bits: np.ndarray) -> np.ndarray:
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / float(1 << 52)) - 1.0


def weights(rows: int, row_len: int, seed: int) -> np.ndarray:
    """rows x row_len float32, identical to webquant::quant::synth::weights."""
    per_row = 1 + 4 * row_len
    u = _uniform(_splitmix64_stream(seed, rows * per_row)).reshape(rows, per_row)
    scale = 0.02 + 0.08 * (u[:, 0] + 1.0) / 2.0
    v = u[:, 1:].reshape(rows, row_len, 4)
    # Left-to-right sum, as the Rust code adds them.
    s = ((v[..., 0] + v[..., 1]) + v[..., 2]) + v[..., 3]
    return (s / 4.0 * scale[:, None]).astype(np.float32)


if __name__ == "__main__":
    w = weights(2, 3, 42)
    print([hex(int(b)) for b in w.view(np.uint32).ravel()])
