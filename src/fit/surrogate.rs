//! The fit's neural surrogate (burn, the pure-Rust CPU backend with autodiff): a small
//! tanh MLP with z-scored inputs and outputs, trained full-batch with Adam on every
//! evaluation so far. An [`Ensemble`] of such nets, differing only in their initial
//! weights, gives a spread that stands in for the prediction's uncertainty.
//!
//! Weights start from our own seeded stream (not burn's global generator) and training
//! runs on one thread, so a seed gives the same net whatever else runs.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Size and training of the nets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurrogateSettings {
    /// Neurons per hidden layer (two hidden layers) [-].
    pub hidden: usize,
    /// Full-batch Adam steps per training [-].
    pub epochs: usize,
    /// Adam learning rate [-].
    pub learning_rate: f64,
    /// Nets in the forward ensemble [-].
    pub ensemble: usize,
}

impl Default for SurrogateSettings {
    fn default() -> Self {
        SurrogateSettings {
            hidden: 32,
            epochs: 300,
            learning_rate: 1e-2,
            ensemble: 4,
        }
    }
}

impl SurrogateSettings {
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if self.hidden == 0 || self.epochs == 0 || self.ensemble == 0 {
            return Some(("hidden", "hidden, epochs and ensemble must be ≥ 1".into()));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Some(("learning_rate", format!("{} is not in (0, 1)", self.learning_rate)));
        }
        None
    }
}

/// Per-column z-scores.
#[derive(Debug, Clone)]
struct Scaler {
    mean: Vec<f64>,
    sd: Vec<f64>,
}

impl Scaler {
    fn of(rows: &[Vec<f64>]) -> Scaler {
        let n = rows.len() as f64;
        let d = rows[0].len();
        let mean: Vec<f64> = (0..d).map(|k| rows.iter().map(|r| r[k]).sum::<f64>() / n).collect();
        let sd = (0..d)
            .map(|k| {
                let v = rows.iter().map(|r| (r[k] - mean[k]).powi(2)).sum::<f64>() / n;
                // A constant column scales by 1 rather than blowing up.
                if v > 1e-24 {
                    v.sqrt()
                } else {
                    1.0
                }
            })
            .collect();
        Scaler { mean, sd }
    }

    fn forward(&self, rows: &[Vec<f64>]) -> Vec<f32> {
        rows.iter()
            .flat_map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(k, v)| ((v - self.mean[k]) / self.sd[k]) as f32)
            })
            .collect()
    }

    fn back(&self, flat: &[f32]) -> Vec<Vec<f64>> {
        let d = self.mean.len();
        flat.chunks(d)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(k, v)| *v as f64 * self.sd[k] + self.mean[k])
                    .collect()
            })
            .collect()
    }
}

#[derive(Module, Debug)]
struct Net {
    w1: Param<Tensor<2>>,
    b1: Param<Tensor<1>>,
    w2: Param<Tensor<2>>,
    b2: Param<Tensor<1>>,
    w3: Param<Tensor<2>>,
    b3: Param<Tensor<1>>,
}

fn glorot(rows: usize, cols: usize, rng: &mut ChaCha8Rng, device: &Device) -> Param<Tensor<2>> {
    let a = (6.0 / (rows + cols) as f64).sqrt();
    let w: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-a..a) as f32).collect();
    Param::from_data(TensorData::new(w, [rows, cols]), device)
}

fn zeros(n: usize, device: &Device) -> Param<Tensor<1>> {
    Param::from_data(TensorData::new(vec![0f32; n], [n]), device)
}

impl Net {
    fn new(inputs: usize, hidden: usize, outputs: usize, seed: u64, device: &Device) -> Net {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Net {
            w1: glorot(inputs, hidden, &mut rng, device),
            b1: zeros(hidden, device),
            w2: glorot(hidden, hidden, &mut rng, device),
            b2: zeros(hidden, device),
            w3: glorot(hidden, outputs, &mut rng, device),
            b3: zeros(outputs, device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let h = (x.matmul(self.w1.val()) + self.b1.val().unsqueeze()).tanh();
        let h = (h.matmul(self.w2.val()) + self.b2.val().unsqueeze()).tanh();
        h.matmul(self.w3.val()) + self.b3.val().unsqueeze()
    }
}

/// One trained net with its scalings.
#[derive(Debug)]
pub struct Mlp {
    net: Net,
    x: Scaler,
    y: Scaler,
    device: Device,
    /// Mean squared error on the (scaled) training set at the end [-].
    pub final_loss: f64,
}

fn check_rows(x: &[Vec<f64>], y: &[Vec<f64>]) -> Result<()> {
    let bad = x.is_empty()
        || x.len() != y.len()
        || x.iter().any(|r| r.len() != x[0].len() || r.is_empty())
        || y.iter().any(|r| r.len() != y[0].len() || r.is_empty())
        || x.iter().chain(y).flatten().any(|v| !v.is_finite());
    if bad {
        return Err(Error::Setup(format!(
            "surrogate: {} input rows and {} output rows; they must be as many, at least one, of equal widths and finite",
            x.len(),
            y.len()
        )));
    }
    Ok(())
}

impl Mlp {
    /// Trains on rows `x` → `y` from the initial weights of `seed`.
    pub fn train(x: &[Vec<f64>], y: &[Vec<f64>], s: &SurrogateSettings, seed: u64) -> Result<Mlp> {
        check_rows(x, y)?;
        let device = Device::flex().autodiff();
        let (xs, ys) = (Scaler::of(x), Scaler::of(y));
        let (n, din, dout) = (x.len(), x[0].len(), y[0].len());
        let xt = Tensor::<2>::from_data(TensorData::new(xs.forward(x), [n, din]), &device);
        let yt = Tensor::<2>::from_data(TensorData::new(ys.forward(y), [n, dout]), &device);
        let mut net = Net::new(din, s.hidden, dout, seed, &device);
        let mut adam = AdamConfig::new().init();
        let mut loss_value = f64::NAN;
        for epoch in 0..s.epochs {
            let loss = (net.forward(xt.clone()) - yt.clone()).powi_scalar(2).mean();
            if epoch + 1 == s.epochs {
                loss_value = scalar(loss.clone());
            }
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = adam.step(s.learning_rate, net, grads);
        }
        Ok(Mlp {
            net,
            x: xs,
            y: ys,
            device,
            final_loss: loss_value,
        })
    }

    /// Predictions for the rows `q` (in the training units).
    pub fn predict(&self, q: &[Vec<f64>]) -> Vec<Vec<f64>> {
        if q.is_empty() {
            return Vec::new();
        }
        let t = Tensor::<2>::from_data(TensorData::new(self.x.forward(q), [q.len(), q[0].len()]), &self.device);
        let out: Vec<f32> = self
            .net
            .forward(t)
            .into_data()
            .try_into_vec::<f32>()
            .expect("the net computes in f32");
        self.y.back(&out)
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().try_into_vec::<f32>().map_or(f64::NAN, |v| v[0] as f64)
}

/// Nets trained on the same rows from different initial weights (in parallel).
#[derive(Debug)]
pub struct Ensemble {
    pub nets: Vec<Mlp>,
}

impl Ensemble {
    pub fn train(x: &[Vec<f64>], y: &[Vec<f64>], s: &SurrogateSettings, seed: u64) -> Result<Ensemble> {
        let nets = (0..s.ensemble as u64)
            .into_par_iter()
            .map(|k| Mlp::train(x, y, s, seed.wrapping_mul(1_000_003).wrapping_add(k)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ensemble { nets })
    }

    /// Each net's predictions: `[net][row][output]`.
    pub fn predict_each(&self, q: &[Vec<f64>]) -> Vec<Vec<Vec<f64>>> {
        self.nets.iter().map(|m| m.predict(q)).collect()
    }
}
