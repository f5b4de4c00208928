//! The CPU work of one batch: tokens in, pooled and normalized vectors out.
//! A batch of one is never padded; a longer one is padded to its longest
//! text and the attention mask keeps the padding out of both attention and
//! pooling (a padded single input gives wrong vectors, and slowly).

use super::files::{Architecture, Pooling};
use crate::embedding::{Error, Result, normalize};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use std::path::Path;

/// The transformer, loaded from `model.safetensors`.
pub enum Encoder {
    Bert(bert::BertModel),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
}

impl Encoder {
    /// Loads the weights of `dir` (mapped, not read, and converted to F32).
    pub fn load(dir: &Path, architecture: Architecture) -> Result<Self> {
        let config_path = dir.join("config.json");
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(super::files::missing(dir, "model.safetensors"));
        }
        let config = std::fs::read_to_string(&config_path)
            .map_err(|e| Error::Unavailable(format!("{}: {e}", config_path.display())))?;
        let bad =
            |e: &dyn std::fmt::Display| Error::Unavailable(format!("{}: {e}", weights.display()));
        let bad_config =
            |e: serde_json::Error| Error::Unavailable(format!("{}: {e}", config_path.display()));
        // SAFETY: the file is mapped read-only and nothing in this process
        // writes it; `replygate model fetch` only ever renames a complete
        // folder into place, never rewrites a file in one.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
                .map_err(|e| bad(&e))?;
        match architecture {
            Architecture::Bert => {
                let config: bert::Config = serde_json::from_str(&config).map_err(bad_config)?;
                bert::BertModel::load(vb, &config)
                    .map(Encoder::Bert)
                    .map_err(|e| bad(&e))
            }
            Architecture::XlmRoberta => {
                let config: xlm_roberta::Config =
                    serde_json::from_str(&config).map_err(bad_config)?;
                // Masked-LM checkpoints keep the encoder under `roberta.`.
                let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
                    vb.pp("roberta")
                } else {
                    vb
                };
                xlm_roberta::XLMRobertaModel::new(&config, vb)
                    .map(Encoder::XlmRoberta)
                    .map_err(|e| bad(&e))
            }
        }
    }

    /// The hidden states of a batch: (texts, tokens, dims).
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let types = ids.zeros_like()?;
        match self {
            Encoder::Bert(m) => m.forward(ids, &types, Some(mask)),
            Encoder::XlmRoberta(m) => m.forward(ids, mask, &types, None, None, None),
        }
    }
}

/// Token ids of several texts, right-padded to the longest, with the masks.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub len: usize,
    /// rows × len token ids; padding is the model's pad id.
    pub ids: Vec<u32>,
    /// 1 for a token the model attends to, 0 for padding.
    pub attention: Vec<u32>,
    /// 1 for a token that counts in the pooling: the attention mask less
    /// the leading prompt tokens when the model excludes its prompt.
    pub pooling: Vec<u32>,
}

impl Batch {
    /// Pads `texts` (token ids each) to the longest; `skip` leading tokens of
    /// each row are left out of the pooling mask (but still attended to).
    pub fn new(texts: &[Vec<u32>], pad_id: u32, skip: usize) -> Self {
        let rows = texts.len();
        let len = texts.iter().map(Vec::len).max().unwrap_or(0);
        let mut batch = Batch {
            rows,
            len,
            ids: Vec::with_capacity(rows * len),
            attention: Vec::with_capacity(rows * len),
            pooling: Vec::with_capacity(rows * len),
        };
        for t in texts {
            batch.ids.extend(
                t.iter()
                    .copied()
                    .chain(std::iter::repeat_n(pad_id, len - t.len())),
            );
            for i in 0..len {
                let real = u32::from(i < t.len());
                batch.attention.push(real);
                // Never leave a row with nothing to pool.
                batch
                    .pooling
                    .push(if i < skip && skip < t.len() { 0 } else { real });
            }
        }
        batch
    }
}

/// Splits texts (token ids each) into batches: by token count, at most
/// `max_rows` texts, and at most `budget` texts × longest² (attention's
/// memory), except that a text alone always makes a batch. Returns indices
/// into `texts`.
pub fn plan(texts: &[Vec<u32>], max_rows: usize, budget: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| texts[i].len());
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for i in order {
        // Sorted: this text is the longest of the batch so far.
        let len = texts[i].len();
        if !current.is_empty()
            && (current.len() >= max_rows || (current.len() + 1) * len * len > budget)
        {
            batches.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Runs `batch` through `encoder` and pools each row into a unit vector.
pub fn embed(encoder: &Encoder, pooling: Pooling, batch: &Batch) -> Result<Vec<Vec<f32>>> {
    if batch.rows == 0 {
        return Ok(Vec::new());
    }
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let shape = (batch.rows, batch.len);
        let ids = Tensor::from_slice(&batch.ids, shape, &Device::Cpu)?;
        let attention = Tensor::from_slice(&batch.attention, shape, &Device::Cpu)?;
        let hidden = encoder.forward(&ids, &attention)?;
        let mask = Tensor::from_slice(&batch.pooling, shape, &Device::Cpu)?;
        pool(&hidden, &mask, pooling)?.to_vec2::<f32>()
    };
    let mut vectors = run().map_err(|e| Error::Failed(e.to_string()))?;
    vectors.iter_mut().for_each(|v| normalize(v));
    Ok(vectors)
}

/// (texts, tokens, dims) hidden states to (texts, dims) by `pooling`;
/// `mask` is (texts, tokens) with 1 where a token counts.
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> candle_core::Result<Tensor> {
    match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1),
        Pooling::Mean => {
            let mask = mask.to_dtype(hidden.dtype())?.unsqueeze(D::Minus1)?;
            let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
            // sentence-transformers clamps the count at 1e-9.
            let count = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            sum.broadcast_div(&count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_padded_to_its_longest_text_and_masks_the_padding() {
        let b = Batch::new(&[vec![101, 7, 102], vec![101, 102]], 0, 0);
        assert_eq!((b.rows, b.len), (2, 3));
        assert_eq!(b.ids, [101, 7, 102, 101, 102, 0]);
        assert_eq!(b.attention, [1, 1, 1, 1, 1, 0]);
        assert_eq!(b.pooling, b.attention);
    }

    #[test]
    fn batches_group_texts_by_length_within_the_row_and_attention_limits() {
        let texts: Vec<Vec<u32>> = [5, 1, 4, 2, 3, 10, 9].iter().map(|&n| vec![7; n]).collect();
        assert_eq!(
            plan(&texts, 3, 1000),
            [vec![1, 3, 4], vec![2, 0, 6], vec![5]]
        );
        // 3 × 3² fits in 50, 4 × 4² does not, 2 × 5² does; 10² alone is over but goes alone.
        assert_eq!(
            plan(&texts, 8, 50),
            [vec![1, 3, 4], vec![2, 0], vec![6], vec![5]]
        );
        assert!(plan(&[], 8, 40).is_empty());
    }

    #[test]
    fn a_single_text_is_not_padded() {
        let b = Batch::new(&[vec![0, 5, 6, 2]], 1, 0);
        assert_eq!((b.rows, b.len), (1, 4));
        assert_eq!(b.attention, [1; 4]);
    }

    #[test]
    fn leading_prompt_tokens_are_attended_to_but_not_pooled() {
        let b = Batch::new(&[vec![101, 1, 2, 3, 102], vec![101, 1, 102]], 0, 2);
        assert_eq!(b.attention, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(b.pooling, [0, 0, 1, 1, 1, 0, 0, 1, 0, 0]);
        let short = Batch::new(&[vec![101, 102]], 0, 2);
        assert_eq!(
            short.pooling,
            [1, 1],
            "a row shorter than the prompt keeps its tokens"
        );
    }

    fn hidden() -> Tensor {
        // Two texts, three tokens, two dims; the second text's last token is padding.
        Tensor::new(
            &[
                [[1f32, 0.], [3., 2.], [5., 4.]],
                [[2., 2.], [4., 0.], [100., 100.]],
            ],
            &Device::Cpu,
        )
        .unwrap()
    }

    #[test]
    fn mean_pooling_averages_only_the_masked_tokens() {
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &Device::Cpu).unwrap();
        let pooled = pool(&hidden(), &mask, Pooling::Mean).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), [[3., 2.], [3., 1.]]);
    }

    #[test]
    fn cls_pooling_takes_the_first_token() {
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &Device::Cpu).unwrap();
        let pooled = pool(&hidden(), &mask, Pooling::Cls).unwrap();
        assert_eq!(pooled.to_vec2::<f32>().unwrap(), [[1., 0.], [2., 2.]]);
    }
}
